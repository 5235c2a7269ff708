local lib = import 'catalog.libsonnet';

lib.collection(
  id='reef-temperature',
  title='Reef water temperature loggers',
  description=|||
    In-water temperature measured every six hours by loggers moored on five
    reefs of the Great Barrier Reef, with a quality-control flag per reading.
  |||,
  license='CC-BY-4.0',
  keywords=['ocean temperature', 'coral reef', 'in situ', 'time series'],
  providers=[lib.providers.reefLab],
  extent=lib.extent([145.46, -23.44, 151.92, -13.89], ['2024-01-01T00:00:00Z', '2024-03-31T18:00:00Z']),
  extensions=[lib.extensions.scientific],
  extra={
    'sci:citation': 'Reef Monitoring Laboratory (2024). Reef water temperature loggers. Example data set.',
  },
  extraLinks=[lib.links.about('https://example.org/reef-lab/loggers', 'Logger network')],
)
