"""Thin HTTP routes: parse with the wire models, call the services, answer in the contract."""
