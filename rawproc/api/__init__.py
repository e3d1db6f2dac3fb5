"""REST API: thin views over the services and selectors, explicit input/output serializers."""
