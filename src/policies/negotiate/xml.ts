/**
 * JSON ⇄ XML in one documented shape (docs/negotiate.md), with fast-xml-parser doing the XML syntax:
 *
 *   {"id": 1, "name": "A & B", "tags": ["x", "y"], "gone": null, "2nd": true}
 *   <?xml version="1.0" encoding="UTF-8"?>
 *   <response><id>1</id><name>A &amp; B</name><tags><item>x</item><item>y</item></tags><gone nil="true"/><key name="2nd">true</key></response>
 *
 * Objects are elements per key in the JSON order; arrays are repeated <item> elements; a key that is not a plain
 * ASCII XML name becomes <key name="…">. Text the library would leave wrong is escaped here: CR as &#13; (an XML
 * reader would turn a raw one into LF) and characters XML 1.0 cannot carry at all (controls, lone surrogates) as
 * U+FFFD. Reading XML, no DTD is accepted (no entity can expand, nothing external is fetched); only the five
 * predefined entities and character references are decoded.
 */
import type { XMLParser } from 'fast-xml-parser';
import type { XMLBuilder } from 'fast-xml-builder';
import type * as Fxp from 'fast-xml-parser';
import { GatewayError } from '../../errors.js';

/** Element names written as they are: ASCII XML names not reserved ("xml…"); anything else goes in <key name>. */
const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const RESERVED = /^xml/i;
/** Characters XML 1.0 cannot carry (§2.2), even as references. */
const NOT_XML = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const NEEDS_TEXT_ESCAPE = /[&<>\r]|[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const NEEDS_ATTR_ESCAPE = /[&<>"\r\n\t]|[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

const ENTITY: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\r': '&#13;', '\n': '&#10;', '\t': '&#9;' };

function escapeText(s: string): string {
  if (!NEEDS_TEXT_ESCAPE.test(s)) return s;
  return s.replace(NOT_XML, '\uFFFD').replace(/[&<>\r]/g, (c) => ENTITY[c]);
}

function escapeAttr(s: string): string {
  if (!NEEDS_ATTR_ESCAPE.test(s)) return s;
  return s.replace(NOT_XML, '\uFFFD').replace(/[&<>"\r\n\t]/g, (c) => ENTITY[c]);
}

type OrderedNode = Record<string, unknown>;

/** The builder's ordered form: `{ tag: children, ':@': attributes }` and `{ '#text': escaped }`. */
function element(name: string, value: unknown, item: string): OrderedNode {
  const plain = PLAIN_NAME.test(name) && !RESERVED.test(name);
  const node: OrderedNode = { [plain ? name : 'key']: children(value, item) };
  if (!plain || value === null) {
    const attrs: Record<string, string> = {};
    if (!plain) attrs.name = escapeAttr(name);
    if (value === null) attrs.nil = 'true';
    node[':@'] = attrs;
  }
  return node;
}

function children(value: unknown, item: string): OrderedNode[] {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return value.map((v) => element(item, v, item));
  if (typeof value === 'object') return Object.entries(value as Record<string, unknown>).map(([k, v]) => element(k, v, item));
  // What is left of a JSON value: a number or a boolean.
  const s = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' ? String(value) : '';
  return s === '' ? [] : [{ '#text': escapeText(s) }];
}

// fast-xml-parser loads, and the builder and parser below are made, when a route negotiates (loadXml, from the
// negotiate policy's create): a config without it never pays for them (a few MiB of idle memory).
let fxp: typeof Fxp | undefined;
let builder: XMLBuilder;
let parser: XMLParser;

/** Loads what toXml and fromXml need; call (and await) before the first use. */
export async function loadXml(): Promise<void> {
  if (fxp) return;
  // The builder is its own package since fast-xml-parser 5 (which depends on it and re-exports it, deprecated).
  const [lib, { default: Builder }] = await Promise.all([import('fast-xml-parser'), import('fast-xml-builder')]);
  // processEntities off: the text is escaped above, so the builder must not escape it again.
  builder = new Builder({ preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: '', suppressEmptyNode: true, processEntities: false });
  parser = new lib.XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    cdataPropName: '#cdata',
    // Entities are decoded below (predefined and character references only); the library expands none.
    processEntities: false,
    transformTagName: (n) => P + n,
    transformAttributeName: (n) => P + n,
  });
  fxp = lib;
}

function loaded(): typeof Fxp {
  if (!fxp) throw new Error('negotiate/xml used before loadXml()');
  return fxp;
}

const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** A parsed JSON value as an XML document. Throws RangeError on nesting deeper than the stack allows. */
export function toXml(value: unknown, root: string, item: string): string {
  loaded();
  return DECLARATION + builder.build([element(root, value, item)]);
}

// ---- XML in ----

/**
 * Every tag and attribute name gets this prefix while parsing, so names like `constructor` or `__proto__` (valid
 * XML, and valid JSON keys) reach our conversion, which builds null-prototype objects, instead of making the
 * library refuse them.
 */
const P = '~';

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function bad(message: string): GatewayError {
  return new GatewayError('TG_BAD_REQUEST', message);
}

function decodeEntities(s: string): string {
  if (s.indexOf('&') === -1) return s;
  return s.replace(/&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z_][A-Za-z0-9._-]*);/g, (_m, ref: string) => {
    if (ref.charCodeAt(0) !== 35) {
      const v = PREDEFINED[ref];
      if (v === undefined) throw bad(`The XML body uses the undefined entity &${ref}; (DTDs are not accepted, so only &amp; &lt; &gt; &quot; &apos; exist).`);
      return v;
    }
    const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    const ch = cp <= 0x10ffff ? String.fromCodePoint(cp) : '';
    NOT_XML.lastIndex = 0;
    if (ch === '' || NOT_XML.test(ch)) throw bad(`The XML body has the character reference &${ref}; to a character XML does not allow.`);
    return ch;
  });
}

/** `~` cannot start an XML name, so every leading one is ours (the library prefixes self-closing tags twice). */
function unprefix(name: string): string {
  let i = 0;
  while (name.charCodeAt(i) === 126) i++;
  return name.slice(i);
}

interface Parsed {
  tag: string;
  attrs: Record<string, string>;
  kids: OrderedNode[];
}

function asElement(n: OrderedNode): Parsed | undefined {
  for (const k of Object.keys(n)) {
    if (k.charCodeAt(0) === 126 /* ~ */) {
      const raw = (n[':@'] ?? {}) as Record<string, string>;
      const attrs: Record<string, string> = Object.create(null) as Record<string, string>;
      for (const [a, v] of Object.entries(raw)) attrs[unprefix(a)] = v;
      return { tag: unprefix(k), attrs, kids: n[k] as OrderedNode[] };
    }
  }
  return undefined;
}

function textOf(n: OrderedNode): string | undefined {
  if ('#text' in n) return decodeEntities(String(n['#text']));
  if ('#cdata' in n) return (n['#cdata'] as OrderedNode[]).map((c) => String((c['#text'] as string | undefined) ?? '')).join('');
  return undefined;
}

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

function typed(s: string): unknown {
  if (s === 'true') return true;
  if (s === 'false') return false;
  if (NUMBER.test(s)) {
    const n = Number(s);
    // An integer JSON cannot carry exactly stays a string rather than changing value.
    if (Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n))) return n;
  }
  return s;
}

function convert(el: Parsed, item: string, typedValues: boolean): unknown {
  const elems: Parsed[] = [];
  let text = '';
  for (const k of el.kids) {
    const e = asElement(k);
    if (e) elems.push(e);
    else text += textOf(k) ?? '';
  }
  if (el.attrs.nil === 'true') {
    if (elems.length || text !== '') throw bad(`The XML element <${el.tag}> is marked nil="true" but has content.`);
    return null;
  }
  if (elems.length === 0) return typedValues ? typed(text) : text;
  if (text.trim() !== '') throw bad(`The XML element <${el.tag}> mixes text and elements; put the text in an element of its own.`);
  if (elems.every((e) => e.tag === item)) return elems.map((e) => convert(e, item, typedValues));
  const obj = Object.create(null) as Record<string, unknown>;
  const repeated = new Set<string>();
  for (const e of elems) {
    const key = e.tag === 'key' && e.attrs.name !== undefined ? decodeEntities(e.attrs.name) : e.tag;
    const v = convert(e, item, typedValues);
    if (!(key in obj)) obj[key] = v;
    else if (repeated.has(key)) (obj[key] as unknown[]).push(v);
    else {
      obj[key] = [obj[key], v];
      repeated.add(key);
    }
  }
  return obj;
}

/** An XML request body as a JSON value (the root element's content). Throws TG_BAD_REQUEST for anything unusable. */
export function fromXml(text: string, item: string, typedValues: boolean): unknown {
  // Refused outright rather than parsed with entities off: no internal subset, no external DTD, no surprises.
  if (/<!DOCTYPE/i.test(text)) throw bad('XML bodies with a DOCTYPE (DTD or entity declarations) are not accepted.');
  // Deprecated in favour of the fast-xml-validator package, whose SyntaxValidator throws instead of returning the
  // error with its line and column, and brings three more packages: this is the same validator fast-xml-parser 5 ships.
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  const valid = loaded().XMLValidator.validate(text);
  if (valid !== true) throw bad(`The XML body is not well-formed: ${valid.err.msg} (line ${valid.err.line}${valid.err.col ? `, column ${valid.err.col}` : ''}).`);
  let doc: OrderedNode[];
  try {
    doc = parser.parse(text) as OrderedNode[];
  } catch (e) {
    throw bad(`The XML body could not be read: ${(e as Error).message.replace(/~/g, '')}.`);
  }
  const roots = doc.map(asElement).filter((e): e is Parsed => e !== undefined);
  if (roots.length !== 1) throw bad('The XML body must have exactly one root element.');
  return convert(roots[0], item, typedValues);
}
