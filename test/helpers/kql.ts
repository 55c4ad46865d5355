/**
 * Translates the KQL subset our dashboards and rules use into Lucene `query_string` syntax, which the
 * engine runs: `field : "v"`, `field : ("a" or "b")`, `field : prefix-*`, `field > n`, `field >= n`,
 * and/or/not and parentheses. Anything else throws, so a rule written with other KQL fails the tests loudly.
 */
export function kqlToQueryString(kql: string): string {
  const tokens = kql.match(/"[^"]*"|\(|\)|>=|>|:|[^\s():>="]+/g) ?? [];
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === 'and' || t === 'or' || t === 'not') out.push(t.toUpperCase());
    else if (t === '(' || t === ')') out.push(t);
    else if (tokens[i + 1] === ':' || tokens[i + 1] === '>' || tokens[i + 1] === '>=') {
      const op = tokens[i + 1] === '>' ? ':>' : tokens[i + 1] === '>=' ? ':>=' : ':';
      out.push(`${t.replaceAll('@', '\\@')}${op}`);
      i++;
    } else if (t.startsWith('"')) out.push(t);
    else if (/^[A-Za-z0-9_.*-]+$/.test(t)) out.push(t.replaceAll('-', '\\-'));
    else throw new Error(`unsupported KQL token ${JSON.stringify(t)} in ${kql}`);
  }
  return out
    .join(' ')
    .replace(/: /g, ':')
    .replace(/:> /g, ':>')
    .replace(/:>= /g, ':>=')
    .replace(/\( /g, '(')
    .replace(/ \)/g, ')');
}

/** Field names a KQL query refers to. */
export function kqlFields(kql: string): string[] {
  return [...kql.matchAll(/([A-Za-z_@][\w.@]*)\s*(?::|>=?)/g)].map((m) => m[1]!);
}
