// Value formatting shared by the flame graph, the table and the chart.
export function formatValue(value, unit) {
  const scales = {
    nanoseconds: [[1e9, 's'], [1e6, 'ms'], [1e3, 'µs'], [1, 'ns']],
    microseconds: [[1e6, 's'], [1e3, 'ms'], [1, 'µs']],
    milliseconds: [[1e3, 's'], [1, 'ms']],
    bytes: [[1e12, 'TB'], [1e9, 'GB'], [1e6, 'MB'], [1e3, 'kB'], [1, 'B']],
  }[unit];
  if (!scales) return value.toLocaleString('en');
  for (const [factor, suffix] of scales) {
    if (Math.abs(value) >= factor) return `${+(value / factor).toFixed(2)}${suffix}`;
  }
  return `${value}${scales[scales.length - 1][1]}`;
}

export function percent(value, total) {
  return total ? `${(100 * value / total).toFixed(2)}%` : '0%';
}
