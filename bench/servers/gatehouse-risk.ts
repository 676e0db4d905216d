// Gatehouse as servers/gatehouse.ts, its organization declaring a risk policy whose rules are
// evaluated on every token and never fire (BENCH_RISK=1 in bench/tokens.ts).
process.env.GATEHOUSE_BENCH_RISK = '1';
await import('./gatehouse.ts');
