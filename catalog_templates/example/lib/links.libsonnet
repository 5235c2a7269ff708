// Link helpers. Environment-specific endpoints come from ext vars that
// catalog-bot sets from catalog-bot.yaml (never from the process env):
//   environment    name of the target environment (local, dev, prod)
//   data_base_url  where published data lives ('' when unknown)
//   stac_api_url   the STAC API root ('' for a static catalog)
local licences = import 'licences.libsonnet';
{
  env:: {
    name: std.extVar('environment'),
    data_base_url: std.extVar('data_base_url'),
    stac_api_url: std.extVar('stac_api_url'),
  },

  license(id):: {
    rel: 'license',
    href: licences[id].url,
    type: 'text/html',
    title: licences[id].title,
  },

  about(href, title):: { rel: 'about', href: href, type: 'text/html', title: title },

  // Link to the published Frictionless datapackage, when the environment knows where data lives.
  datapackage(id):: if self.env.data_base_url != '' then [{
    rel: 'describedby',
    href: '%s/%s/datapackage.json' % [$.env.data_base_url, id],
    type: 'application/json',
    title: 'Frictionless data package',
  }] else [],
}
