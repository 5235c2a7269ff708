// The catalog's collection template. Every dataset's collection.jsonnet calls
// collection{...} with its curated fields; shared conventions (STAC version,
// providers, licence links, extensions) live here so that one change in this
// file re-renders (and re-checks) every dataset that imports it.
local licences = import 'licences.libsonnet';
local links = import 'links.libsonnet';
local providers = import 'providers.libsonnet';

{
  providers:: providers,
  licences:: licences,
  links:: links,

  extensions:: {
    scientific: 'https://stac-extensions.github.io/scientific/v1.0.0/schema.json',
    datacube: 'https://stac-extensions.github.io/datacube/v2.2.0/schema.json',
    table: 'https://stac-extensions.github.io/table/v1.2.0/schema.json',
  },

  // bbox: [west, south, east, north]; interval: [start, end] (ISO 8601, end may be null).
  extent(bbox, interval):: {
    spatial: { bbox: [bbox] },
    temporal: { interval: [interval] },
  },

  collection(
    id,
    title,
    description,
    license,
    keywords,
    providers,
    extent,
    extensions=[],
    extra={},
    extraLinks=[],
  ):: {
    type: 'Collection',
    stac_version: '1.1.0',
    stac_extensions: extensions,
    id: id,
    title: title,
    description: description,
    keywords: keywords,
    license: licences[license].id,
    providers: providers + [$.providers.host],
    extent: extent,
    links: [links.license(license)] + links.datapackage(id) + extraLinks,
  } + extra,
}
