from shipyard.client import Client


def test_default_project_exists(any_client: Client) -> None:
    names = [p.name for p in any_client.iter_projects()]
    assert names == ["default"]
