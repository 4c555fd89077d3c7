"""The one HTML page shell and style of the pipeline's pages (run pages, report site, lineage, CT report).

Pages are single self-contained files (inline CSS and SVG): they open from disk and can be attached to a
ticket. The components' own reports (drift, behaviour) carry their own shell: components import nothing
from the project.
"""
import html

STYLE = ("body{font-family:Helvetica,Arial,sans-serif;margin:18px;color:#222;max-width:1400px}"
         "table{border-collapse:collapse;margin:6px 0 18px}td,th{border:1px solid #ccc;padding:3px 7px;"
         "font-size:13px;vertical-align:top;text-align:left;overflow-wrap:anywhere}th{background:#f3f3f3}td.n{text-align:right}"
         ".pass{color:#17692a;font-weight:bold}.fail{color:#b00020;font-weight:bold}.warn{color:#9a5b00}"
         ".neutral{color:#555;font-weight:bold}"
         "nav a,nav b{margin-right:14px}nav{margin-bottom:10px;padding-bottom:6px;border-bottom:1px solid #ddd}"
         ".charts{display:flex;flex-wrap:wrap;gap:10px}.note{color:#555;font-size:13px}"
         "details{margin:4px 0}summary{cursor:pointer}code{font-size:12px}img{max-width:100%}"
         ".legend span{padding:2px 8px;margin-right:6px;border:1px solid #445;font-size:12px}")


def page(title: str, body: str, nav: str = "", heading: str = None) -> str:
    """A whole HTML document: `nav`, then `heading` (default: the escaped title) as h1, then `body`."""
    h1 = html.escape(title) if heading is None else heading
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{nav}<h1>{h1}</h1>{body}</body></html>\n")
