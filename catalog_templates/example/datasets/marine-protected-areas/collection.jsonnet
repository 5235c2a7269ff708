local lib = import 'catalog.libsonnet';

lib.collection(
  id='marine-protected-areas',
  title='Marine protected areas',
  description='Boundaries, designation and IUCN category of marine protected areas in the example region.',
  license='CC-BY-4.0',
  keywords=['marine protected area', 'boundaries', 'conservation'],
  providers=[lib.providers.marineParks],
  extent=lib.extent([145.0, -24.0, 153.0, -13.5], ['1983-10-01T00:00:00Z', null]),
)
