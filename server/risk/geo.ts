import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { Reader, type CountryResponse } from 'maxmind';

/** The database `@ip-location-db/geo-whois-asn-country-mmdb` ships (IPv4 and IPv6 in one file), used unless GATEHOUSE_GEOIP_DB names another. */
export function shippedGeoDatabase(): string {
  return createRequire(import.meta.url).resolve('@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb');
}

/** What the geolocation database answers: an ISO 3166-1 alpha-2 code, as ip-location-db or as MaxMind write it. */
type CountryRecord = CountryResponse & { country_code?: string };

/**
 * Client addresses → countries, offline, from a MaxMind-format (mmdb) database: the
 * ip-location-db country file by default (records `{country_code}`), or any GeoLite2/GeoIP2
 * Country-shaped file (`{country: {iso_code}}`). Opened on first use (~8 MB read once,
 * ~10 ms); a lookup costs a few microseconds. Undefined for private, reserved and unknown
 * addresses: such an address is in no country, so `allowedCountries` refuses it and
 * `deniedCountries` lets it through.
 */
export class GeoLocator {
  private reader: Reader<CountryRecord> | undefined;
  readonly path: string;

  constructor(path: string = shippedGeoDatabase()) {
    this.path = path;
  }

  /** Reads the database now (start-up), so that a wrong path stops the server rather than its first request. */
  open(): this {
    this.reader ??= new Reader<CountryRecord>(readFileSync(this.path));
    return this;
  }

  country(address: string): string | undefined {
    const ip = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    const family = isIP(ip);
    if (family === 0) return undefined;
    const reader = this.open().reader!;
    // An IPv4-only database answers an IPv6 lookup from the wrong bits (checked: 2a00:1450::1 comes back "CN"): it knows none.
    if (family === 6 && reader.metadata.ipVersion === 4) return undefined;
    const record = reader.get(ip);
    const code = record?.country_code ?? record?.country?.iso_code;
    return typeof code === 'string' && /^[A-Z]{2}$/.test(code) ? code : undefined;
  }

  /** When the database was built (its metadata), for the docs' "how old is it" question. */
  builtAt(): Date {
    return this.open().reader!.metadata.buildEpoch;
  }
}
