"""``python -m shipyard``: the CLI (what the controller uses to start model servers)."""

if __name__ == "__main__":
    from shipyard.cli.main import app

    app(prog_name="shipyard")
