"""Support without full keys: base-URL mistakes, error guide, ticket diagnosis and error statistics."""
