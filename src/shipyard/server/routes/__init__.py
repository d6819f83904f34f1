"""HTTP routers. Each parses, calls one service function and shapes the reply."""
