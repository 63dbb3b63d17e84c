/** A parsed `WWW-Authenticate` challenge (RFC 7235 section 4.1). */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses the first challenge of a WWW-Authenticate header value. Registries send one challenge,
 * `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`; parameters may be tokens
 * or quoted strings with backslash escapes, and commas may appear inside quoted scope lists.
 */
export function parseChallenge(header: string): Challenge | undefined {
  let i = 0;
  const skipSpace = () => { while (i < header.length && (header[i] === ' ' || header[i] === '\t')) i++; };
  const readToken = () => {
    const start = i;
    while (i < header.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i])) i++;
    return header.slice(start, i);
  };
  skipSpace();
  const scheme = readToken();
  if (!scheme) return undefined;
  const params: Record<string, string> = {};
  for (;;) {
    skipSpace();
    if (i >= header.length) break;
    const name = readToken().toLowerCase();
    skipSpace();
    if (!name || header[i] !== '=') break; // another challenge or token68: we only take the first's params
    i++;
    skipSpace();
    let value = '';
    if (header[i] === '"') {
      i++;
      while (i < header.length && header[i] !== '"') {
        if (header[i] === '\\' && i + 1 < header.length) i++;
        value += header[i++];
      }
      if (header[i] !== '"') return undefined; // unterminated quoted string
      i++;
    } else {
      value = readToken();
    }
    params[name] = value;
    skipSpace();
    if (header[i] === ',') i++;
  }
  return { scheme: scheme.toLowerCase(), params };
}
