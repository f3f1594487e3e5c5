"""Maps shared by every domain: the BNG <-> WGS84 transform, the county's reference layers
(districts, streets, properties) read from `DATA_DIR/reference/`, and the routes that serve them
to the one map component as GeoJSON. Imports no domain, so works and incidents both use it."""
