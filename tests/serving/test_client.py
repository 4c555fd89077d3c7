"""Client helpers: rows from CSV/JSON, typed and checked against the contract."""
import pytest

from serving import client as serving_client


def test_client_rows_name_bad_values():
    from serving.tools.contract_model import example_row
    row = {k: str(v) for k, v in example_row(3).items()}
    assert serving_client.normalize_row(row)["distance"] == example_row(3)["distance"]
    with pytest.raises(ValueError, match="feature 'month': value 'May' is not a valid int64"):
        serving_client.normalize_row(dict(row, month="May"))
    with pytest.raises(ValueError, match="CSV line 2: .*missing feature"):
        serving_client.rows_from_csv("carrier,month\nUA,1\n")
