// Licences by SPDX id: the collection's `license` field and its `license` link.
// Keep the key equal to the SPDX id: validation checks that the datapackage's
// licenses[0].name is the same id as the collection's license.
{
  'CC-BY-4.0': {
    id: 'CC-BY-4.0',
    title: 'Creative Commons Attribution 4.0 International',
    url: 'https://creativecommons.org/licenses/by/4.0/',
  },
  'CC-BY-NC-4.0': {
    id: 'CC-BY-NC-4.0',
    title: 'Creative Commons Attribution Non Commercial 4.0 International',
    url: 'https://creativecommons.org/licenses/by-nc/4.0/',
  },
  'CC0-1.0': {
    id: 'CC0-1.0',
    title: 'Creative Commons Zero v1.0 Universal',
    url: 'https://creativecommons.org/publicdomain/zero/1.0/',
  },
  'ODbL-1.0': {
    id: 'ODbL-1.0',
    title: 'Open Data Commons Open Database License v1.0',
    url: 'https://opendatacommons.org/licenses/odbl/1-0/',
  },
}
