local lib = import 'catalog.libsonnet';

lib.collection(
  id='reef-temperature-daily',
  title='Reef water temperature loggers (daily files)',
  description=|||
    The reef logger readings as the logger network delivers them: one CSV file
    per day in an object store bucket, read where they live and appended to the
    published GeoParquet as new days arrive.
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
