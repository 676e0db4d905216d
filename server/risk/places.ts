/**
 * Where a country is, for the impossible-travel rule: the coordinates of its capital (degrees).
 * The geolocation database places an address in a country only, so two sign-ins are as far
 * apart as their countries' capitals; a country missing here never makes travel impossible.
 */
const CAPITALS =
  'AD 42.51 1.52|AE 24.45 54.38|AF 34.53 69.17|AL 41.33 19.82|AM 40.18 44.51|AO -8.84 13.23|AR -34.6 -58.38|AT 48.21 16.37|AU -35.28 149.13|AZ 40.41 49.87|' +
  'BA 43.86 18.41|BD 23.81 90.41|BE 50.85 4.35|BG 42.7 23.32|BH 26.23 50.59|BO -16.5 -68.15|BR -15.79 -47.88|BY 53.9 27.57|CA 45.42 -75.7|CD -4.44 15.27|' +
  'CH 46.95 7.45|CI 6.83 -5.29|CL -33.45 -70.67|CM 3.85 11.5|CN 39.9 116.41|CO 4.71 -74.07|CR 9.93 -84.08|CU 23.11 -82.37|CY 35.17 33.37|CZ 50.08 14.44|' +
  'DE 52.52 13.4|DK 55.68 12.57|DO 18.49 -69.93|DZ 36.75 3.06|EC -0.18 -78.47|EE 59.44 24.75|EG 30.04 31.24|ES 40.42 -3.7|ET 9.03 38.74|FI 60.17 24.94|' +
  'FR 48.86 2.35|GB 51.51 -0.13|GE 41.72 44.79|GH 5.6 -0.19|GR 37.98 23.73|GT 14.63 -90.51|HK 22.32 114.17|HN 14.07 -87.19|HR 45.81 15.98|HU 47.5 19.04|' +
  'ID -6.21 106.85|IE 53.35 -6.26|IL 31.77 35.21|IN 28.61 77.21|IQ 33.31 44.36|IR 35.69 51.39|IS 64.15 -21.94|IT 41.9 12.5|JM 18.02 -76.8|JO 31.95 35.93|' +
  'JP 35.68 139.69|KE -1.29 36.82|KG 42.87 74.59|KH 11.56 104.93|KR 37.57 126.98|KW 29.38 47.99|KZ 51.17 71.45|LB 33.89 35.5|LI 47.14 9.52|LK 6.93 79.85|' +
  'LT 54.69 25.28|LU 49.61 6.13|LV 56.95 24.11|LY 32.89 13.19|MA 34.02 -6.83|MC 43.74 7.42|MD 47.01 28.86|ME 42.44 19.26|MK 42.0 21.43|MM 19.76 96.08|' +
  'MN 47.89 106.91|MO 22.2 113.54|MT 35.9 14.51|MU -20.16 57.5|MX 19.43 -99.13|MY 3.14 101.69|NG 9.08 7.4|NI 12.11 -86.24|NL 52.37 4.9|NO 59.91 10.75|' +
  'NP 27.72 85.32|NZ -41.29 174.78|OM 23.59 58.41|PA 8.98 -79.52|PE -12.05 -77.04|PH 14.6 120.98|PK 33.68 73.05|PL 52.23 21.01|PR 18.47 -66.11|PT 38.72 -9.14|' +
  'PY -25.26 -57.58|QA 25.29 51.53|RO 44.43 26.1|RS 44.79 20.45|RU 55.76 37.62|SA 24.71 46.68|SD 15.5 32.56|SE 59.33 18.07|SG 1.35 103.82|SI 46.06 14.51|' +
  'SK 48.15 17.11|SN 14.72 -17.47|SV 13.69 -89.19|SY 33.51 36.29|TH 13.76 100.5|TN 36.81 10.18|TR 39.93 32.86|TW 25.03 121.57|TZ -6.16 35.75|UA 50.45 30.52|' +
  'UG 0.35 32.58|US 38.9 -77.04|UY -34.9 -56.16|UZ 41.3 69.24|VE 10.48 -66.9|VN 21.03 105.85|YE 15.37 44.19|ZA -25.75 28.19|ZM -15.39 28.32|ZW -17.83 31.05';

const PLACES = new Map(
  CAPITALS.split('|').map((row) => {
    const [code, lat, lon] = row.split(' ');
    return [code!, { lat: Number(lat), lon: Number(lon) }] as const;
  }),
);

/** Great-circle distance in km between two countries' capitals; undefined when either is not in the table. */
export function distanceKm(a: string, b: string): number | undefined {
  if (a === b) return 0;
  const p = PLACES.get(a);
  const q = PLACES.get(b);
  if (!p || !q) return undefined;
  const rad = Math.PI / 180;
  const dLat = (q.lat - p.lat) * rad;
  const dLon = (q.lon - p.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(p.lat * rad) * Math.cos(q.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)));
}
