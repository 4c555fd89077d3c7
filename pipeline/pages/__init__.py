"""HTML pages: one page shell, the run pages, the report site, charts."""
