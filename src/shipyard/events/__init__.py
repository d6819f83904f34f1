"""Events: every state change (actor, action, object, time), for the audit log to chain."""
