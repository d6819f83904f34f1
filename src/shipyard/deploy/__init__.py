"""Deployments: endpoints, rollouts and the analysis that decides them."""
