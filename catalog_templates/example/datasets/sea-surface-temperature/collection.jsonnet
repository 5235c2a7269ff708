local lib = import 'catalog.libsonnet';

lib.collection(
  id='sea-surface-temperature',
  title='Monthly sea surface temperature analysis',
  description=|||
    Monthly mean sea surface temperature on a 0.25 degree grid over the Great
    Barrier Reef, with the analysis error estimate.
  |||,
  license='CC-BY-4.0',
  keywords=['sea surface temperature', 'gridded', 'analysis', 'monthly'],
  providers=[lib.providers.oceanAnalysis],
  extent=lib.extent([142.0, -25.0, 157.0, -10.0], ['2024-01-01T00:00:00Z', '2024-12-31T23:59:59Z']),
  extensions=[lib.extensions.scientific],
  extra={
    'sci:citation': 'Ocean Analysis Centre (2024). Monthly sea surface temperature analysis. Example data set.',
  },
)
