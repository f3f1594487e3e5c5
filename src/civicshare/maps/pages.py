"""The base layer's routes, for the map component on every page: GeoJSON in WGS84 from the
county's reference data. Public, like the reference data itself (no people in it; the public
roadworks map is drawn on it without sign-in), and never in the API schema."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from civicshare.maps import layers

router = APIRouter(include_in_schema=False)
GEOJSON = "application/geo+json"
BBOX = Annotated[
    str | None, Query(description="west,south,east,north in WGS84 degrees, longitude first")
]
ZOOM = Annotated[int | None, Query(ge=0, le=22, description="The map's zoom, to simplify to")]


def _geojson(document: dict, max_age: int) -> JSONResponse:
    return JSONResponse(
        document, media_type=GEOJSON, headers={"Cache-Control": f"public, max-age={max_age}"}
    )


@router.get("/map/reference/districts.geojson")
def districts(request: Request) -> JSONResponse:
    """Every district boundary (simplified to 20 m)."""
    return _geojson(layers.districts_geojson(request.app.state.settings), 3600)


@router.get("/map/reference/streets.geojson")
def streets(request: Request, bbox: BBOX = None, zoom: ZOOM = None) -> JSONResponse:
    """The streets crossing `bbox`, at most layers.MAX_STREETS (the longest)."""
    box = layers.parse_bbox(bbox)
    return _geojson(
        layers.streets_geojson(
            request.app.state.settings, box, zoom=zoom, limit=layers.MAX_STREETS
        ),
        300,
    )


@router.get("/map/reference/properties.geojson")
def properties(request: Request, bbox: BBOX = None) -> JSONResponse:
    """The property points inside `bbox`, at most layers.MAX_PROPERTIES."""
    box = layers.parse_bbox(bbox)
    return _geojson(
        layers.properties_geojson(request.app.state.settings, box, limit=layers.MAX_PROPERTIES), 300
    )


# -- for the pages that show a map -----------------------------------------------------------


def map_options(request: Request) -> dict[str, str]:
    """The map component's tile options from the settings (map_tiles, map_attribution): pass
    as `options` to the `map_panel` macro. Empty tiles (the default): the gateway's own base
    layer only."""
    settings = request.app.state.settings
    return {"tiles": settings.map_tiles, "attribution": settings.map_attribution}


def allow_tiles(request: Request, response: Response) -> Response:
    """When base-map tiles come from another origin, this page's CSP allows its images."""
    tiles = request.app.state.settings.map_tiles
    if tiles:
        parts = urlsplit(tiles)
        if parts.scheme in ("http", "https") and parts.netloc:
            origin = f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"
            nonce = getattr(request.state, "csp_nonce", "")
            response.headers["Content-Security-Policy"] = (
                f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
                f"img-src 'self' data: {origin}; object-src 'none'; base-uri 'self'; "
                "frame-ancestors 'none'"
            )
    return response
