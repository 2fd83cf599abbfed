// A small YAML-subset reader for the model configs that ship with taming-transformers and
// MoVQGAN checkpoints. Supported: block mappings and sequences by indentation (a sequence may sit
// at its parent key's indentation), flow lists/maps `[1, 2]` / `{a: 1}` (also across lines),
// plain/single/double-quoted scalars, comments, and PyYAML's scalar typing (int, float, bool incl.
// yes/no/on/off, null/~). Anchors, aliases, tags, block scalars (| >) and multiple documents are
// rejected with an error naming the line — they do not occur in these files and guessing would be worse.
export class YamlError extends Error {
  constructor(message: string, source: string, line?: number) {
    super(`${source}${line === undefined ? '' : `:${line}`}: ${message}`);
    this.name = 'YamlError';
  }
}

export type YamlValue = null | boolean | number | string | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  indent: number;
  text: string;
  no: number;
}

/** Strips a trailing comment: `#` at the start or after whitespace, outside quotes. */
function stripComment(s: string): string {
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) {
        if (quote === "'" && s[i + 1] === "'") i++;
        else quote = null;
      } else if (c === '\\' && quote === '"') i++;
    } else if (c === '"' || c === "'") {
      // Quotes only open a scalar at its start (after ': ', '- ', '[', ',' or the line start).
      const prev = s.slice(0, i).trimEnd();
      if (prev === '' || /[:\-[{,]$/.test(prev)) quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]!))) return s.slice(0, i);
  }
  return s;
}

const INT = /^[-+]?(0|[1-9][0-9_]*)$/;
const HEX = /^[-+]?0x[0-9a-fA-F_]+$/;
const OCT = /^[-+]?0o?[0-7_]+$/;
// YAML 1.1 floats as PyYAML resolves them, plus exponent forms without a dot (1e-6), which
// PyYAML would keep as a string but every config author means as a number.
const FLOAT = /^[-+]?([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9][0-9_]*)([eE][-+]?[0-9]+)?$/;

function plainScalar(raw: string): YamlValue {
  const s = raw.trim();
  if (s === '' || s === '~' || /^(null|Null|NULL)$/.test(s)) return null;
  if (/^(true|True|TRUE|yes|Yes|YES|on|On|ON)$/.test(s)) return true;
  if (/^(false|False|FALSE|no|No|NO|off|Off|OFF)$/.test(s)) return false;
  if (INT.test(s)) return Number(s.replace(/_/g, ''));
  if (HEX.test(s)) return (s.startsWith('-') ? -1 : 1) * parseInt(s.replace(/^[-+]?0x/, '').replace(/_/g, ''), 16);
  if (OCT.test(s) && /^[-+]?0o?[0-7]/.test(s) && s.replace(/^[-+]/, '').length > 1) {
    return (s.startsWith('-') ? -1 : 1) * parseInt(s.replace(/^[-+]?0o?/, '').replace(/_/g, ''), 8);
  }
  if (FLOAT.test(s)) return Number(s.replace(/_/g, ''));
  if (/^[-+]?\.(inf|Inf|INF)$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^\.(nan|NaN|NAN)$/.test(s)) return NaN;
  return s;
}

export function parseYaml(text: string, source = 'YAML'): YamlValue {
  const lines: Line[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (/^\t| \t/.test(raw.match(/^\s*/)![0])) throw new YamlError('tabs are not allowed in indentation', source, i + 1);
    const body = stripComment(raw).trimEnd();
    if (body.trim() === '') return;
    const indent = body.length - body.trimStart().length;
    const t = body.trim();
    if (t === '---' && lines.length === 0) return;
    if (t === '---' || t === '...') throw new YamlError('multiple documents are not supported', source, i + 1);
    if (t.startsWith('%')) throw new YamlError('directives are not supported', source, i + 1);
    lines.push({ indent, text: t, no: i + 1 });
  });
  let pos = 0;
  const fail = (msg: string, line = lines[Math.min(pos, lines.length - 1)]): never => {
    throw new YamlError(msg, source, line?.no);
  };

  /** Value text that may be a flow collection continuing on later (more indented) lines. */
  const inlineValue = (first: string, line: Line): YamlValue => {
    let s = first;
    if (/^[[{]/.test(s)) {
      while (!balanced(s)) {
        const next = lines[pos];
        if (!next || next.indent <= line.indent) fail('unterminated flow collection', line);
        s += ' ' + next!.text;
        pos++;
      }
    }
    return scalarOrFlow(s, line);
  };

  const scalarOrFlow = (s: string, line: Line): YamlValue => {
    if (/^[&*!]/.test(s)) fail(`anchors, aliases and tags are not supported: '${s}'`, line);
    if (/^[|>]/.test(s)) fail(`block scalars (| and >) are not supported`, line);
    if (/^[[{"']/.test(s)) {
      const p = new FlowParser(s, (m) => fail(m, line));
      const v = p.value();
      p.end();
      return v;
    }
    if (/^-\s|^-$/.test(s)) fail(`a sequence cannot start on the same line as its key`, line);
    return plainScalar(s);
  };

  const parseBlock = (indent: number): YamlValue => {
    const line = lines[pos]!;
    if (line.indent !== indent) fail(`bad indentation (expected ${indent} spaces, found ${line.indent})`, line);
    return isSeqItem(line.text) ? parseSequence(indent) : parseMapping(indent);
  };

  const parseSequence = (indent: number): YamlValue[] => {
    const out: YamlValue[] = [];
    while (pos < lines.length && lines[pos]!.indent === indent && isSeqItem(lines[pos]!.text)) {
      const line = lines[pos]!;
      const rest = line.text.slice(1).trimStart();
      if (rest === '') {
        pos++;
        const next = lines[pos];
        out.push(next && next.indent > indent ? parseBlock(next.indent) : null);
      } else if (splitKey(rest) !== null && !/^[[{"']/.test(rest)) {
        // "- key: value" opens a mapping whose keys align with `key`.
        const inner = indent + (line.text.length - rest.length);
        lines[pos] = { indent: inner, text: rest, no: line.no };
        out.push(parseMapping(inner));
      } else {
        pos++;
        out.push(inlineValue(rest, line));
      }
    }
    if (pos < lines.length && lines[pos]!.indent > indent) fail('bad indentation inside a sequence');
    return out;
  };

  const parseMapping = (indent: number): { [key: string]: YamlValue } => {
    const out: { [key: string]: YamlValue } = {};
    while (pos < lines.length && lines[pos]!.indent === indent) {
      const line = lines[pos]!;
      if (isSeqItem(line.text)) fail('a sequence item where a mapping key was expected', line);
      const kv = splitKey(line.text);
      if (!kv) fail(`expected 'key: value', got '${line.text}'`, line);
      const [rawKey, rest] = kv!;
      const key = unquoteKey(rawKey, line);
      if (Object.hasOwn(out, key)) fail(`duplicate key '${key}'`, line);
      pos++;
      let value: YamlValue;
      if (rest === '') {
        const next = lines[pos];
        if (next && next.indent > indent) value = parseBlock(next.indent);
        // A block sequence may sit at its key's own indentation ("key:\n- 1\n- 2").
        else if (next && next.indent === indent && isSeqItem(next.text)) value = parseSequence(indent);
        else value = null;
      } else value = inlineValue(rest, line);
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    }
    if (pos < lines.length && lines[pos]!.indent > indent) fail('bad indentation (more than the mapping it belongs to)');
    return out;
  };

  if (lines.length === 0) return null;
  const root = lines[0]!;
  if (!isSeqItem(root.text) && splitKey(root.text) === null) {
    pos = 1;
    if (lines.length > 1) fail('a document holding a scalar must be one line', lines[1]);
    return inlineValue(root.text, root);
  }
  const value = parseBlock(root.indent);
  if (pos < lines.length) fail('unexpected content (check the indentation)');
  return value;

  function unquoteKey(k: string, line: Line): string {
    if (/^["']/.test(k)) {
      const v = scalarOrFlow(k, line);
      if (typeof v !== 'string') fail(`bad key ${k}`, line);
      return v as string;
    }
    if (/^[[{?&*!]/.test(k)) fail(`complex keys are not supported: '${k}'`, line);
    return k;
  }
}

const isSeqItem = (t: string): boolean => t === '-' || t.startsWith('- ');

/** Splits "key: value" at the first ': ' (or trailing ':') outside quotes and brackets. */
function splitKey(t: string): [string, string] | null {
  let quote: string | null = null;
  let depth = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"') i++;
    } else if ((c === '"' || c === "'") && i === 0) quote = c;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ':' && depth === 0 && (i === t.length - 1 || t[i + 1] === ' ')) {
      return [t.slice(0, i).trim(), t.slice(i + 1).trim()];
    }
  }
  return null;
}

function balanced(s: string): boolean {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"') i++;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
  }
  return depth <= 0;
}

/** Recursive descent over one flow value: [..], {..}, quoted or plain scalars. */
class FlowParser {
  #i = 0;
  constructor(
    readonly s: string,
    readonly fail: (msg: string) => never,
  ) {}

  #ws(): void {
    while (this.#i < this.s.length && /\s/.test(this.s[this.#i]!)) this.#i++;
  }

  end(): void {
    this.#ws();
    if (this.#i < this.s.length) this.fail(`unexpected '${this.s.slice(this.#i)}' after a value`);
  }

  value(): YamlValue {
    this.#ws();
    const c = this.s[this.#i];
    if (c === '[') return this.#list();
    if (c === '{') return this.#map();
    if (c === '"' || c === "'") return this.#quoted();
    return this.#plain();
  }

  #list(): YamlValue[] {
    const out: YamlValue[] = [];
    this.#i++;
    for (;;) {
      this.#ws();
      if (this.s[this.#i] === ']') {
        this.#i++;
        return out;
      }
      out.push(this.value());
      this.#ws();
      const c = this.s[this.#i];
      if (c === ',') this.#i++;
      else if (c !== ']') this.fail(`expected ',' or ']' in a flow list: '${this.s}'`);
    }
  }

  #map(): { [key: string]: YamlValue } {
    const out: { [key: string]: YamlValue } = {};
    this.#i++;
    for (;;) {
      this.#ws();
      if (this.s[this.#i] === '}') {
        this.#i++;
        return out;
      }
      const k = this.s[this.#i] === '"' || this.s[this.#i] === "'" ? this.#quoted() : this.#plain(true);
      this.#ws();
      if (this.s[this.#i] !== ':') this.fail(`expected ':' after key in a flow map: '${this.s}'`);
      this.#i++;
      const key = String(k);
      if (Object.hasOwn(out, key)) this.fail(`duplicate key '${key}'`);
      Object.defineProperty(out, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.#ws();
      const c = this.s[this.#i];
      if (c === ',') this.#i++;
      else if (c !== '}') this.fail(`expected ',' or '}' in a flow map: '${this.s}'`);
    }
  }

  #quoted(): string {
    const q = this.s[this.#i]!;
    let out = '';
    this.#i++;
    while (this.#i < this.s.length) {
      const c = this.s[this.#i++]!;
      if (c === q) {
        if (q === "'" && this.s[this.#i] === "'") {
          out += "'";
          this.#i++;
          continue;
        }
        return out;
      }
      if (c === '\\' && q === '"') {
        const e = this.s[this.#i++];
        const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0', '"': '"', '\\': '\\', '/': '/', ' ': ' ' };
        if (e !== undefined && Object.hasOwn(simple, e)) out += simple[e];
        else if (e === 'u' || e === 'x') {
          const n = e === 'u' ? 4 : 2;
          const hex = this.s.slice(this.#i, this.#i + n);
          if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) this.fail(`bad escape \\${e}${hex}`);
          out += String.fromCharCode(parseInt(hex, 16));
          this.#i += n;
        } else this.fail(`unsupported escape \\${e ?? ''}`);
      } else out += c;
    }
    return this.fail(`unterminated quoted string: ${this.s}`);
  }

  #plain(isKey = false): YamlValue {
    const start = this.#i;
    while (this.#i < this.s.length) {
      const c = this.s[this.#i]!;
      if (c === ',' || c === ']' || c === '}') break;
      if (isKey && c === ':') break;
      if (c === ':' && /\s/.test(this.s[this.#i + 1] ?? ' ') && !isKey) break;
      this.#i++;
    }
    const raw = this.s.slice(start, this.#i).trim();
    if (raw === '' && !isKey) this.fail(`empty value in a flow collection: '${this.s}'`);
    return isKey ? raw : plainScalar(raw);
  }
}
