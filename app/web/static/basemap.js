// The base map: the configured MapLibre style (WATTLAS_BASEMAP_STYLE), or an offline one built
// from the Natural Earth countries the service serves (sea, land, borders). The offline style
// has no glyphs, so the page never uses text in symbol layers: counts are HTML markers.

export const COLORS = {
  sea: "#cfe0ea",
  land: "#f6f4ef",
  border: "#b8b2a6",
};

export function offlineStyle(countriesUrl, attribution) {
  return {
    version: 8,
    name: "Wattlas offline",
    sources: {
      // 1:50m data has nothing more to show past zoom 6: tiles beyond are over-zoomed instead
      // of cut again from the whole file (which made close zooms slow to draw).
      countries: { type: "geojson", data: countriesUrl, attribution, tolerance: 0.5, maxzoom: 6 },
    },
    layers: [
      { id: "sea", type: "background", paint: { "background-color": COLORS.sea } },
      { id: "land", type: "fill", source: "countries", paint: { "fill-color": COLORS.land, "fill-antialias": true } },
      {
        id: "borders",
        type: "line",
        source: "countries",
        paint: {
          "line-color": COLORS.border,
          "line-width": ["interpolate", ["linear"], ["zoom"], 2, 0.5, 10, 1.5],
        },
      },
    ],
  };
}

export async function loadMapConfig() {
  try {
    const response = await fetch("/v1/map-config");
    if (response.ok) return await response.json();
  } catch {
    // fall through to the defaults
  }
  return { basemap_style: null, countries_url: "/vendor/countries.geojson", attribution: "" };
}
