// Organisations that appear as STAC providers. Roles follow the STAC spec:
// licensor, producer, processor, host.
{
  local provider(name, url, roles, description='') = {
    name: name,
    url: url,
    roles: roles,
    [if description != '' then 'description']: description,
  },

  reefLab: provider(
    'Reef Monitoring Laboratory',
    'https://example.org/reef-lab',
    ['producer', 'licensor'],
    'Long-term in-water temperature logger network.'
  ),
  marineParks: provider(
    'Marine Parks Authority',
    'https://example.org/marine-parks',
    ['producer', 'licensor'],
  ),
  oceanAnalysis: provider(
    'Ocean Analysis Centre',
    'https://example.org/ocean-analysis',
    ['producer', 'processor', 'licensor'],
  ),
  // The host is the platform publishing the catalog (this bot).
  host: provider('Marine Data Platform', 'https://example.org/data-platform', ['host', 'processor']),
}
