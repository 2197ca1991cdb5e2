/** Types for the parse-prometheus-text-format package (it ships none): what the tests read of it. */
declare module 'parse-prometheus-text-format' {
  /** Parses Prometheus text exposition into metric families; throws on malformed text. */
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
