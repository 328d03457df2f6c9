// openapi/openapi.yaml as a test oracle: checks that a live response (status, content type,
// documented headers, body) is what the spec says for that operation.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020Module from 'ajv/dist/2020.js';

const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;

export const SPEC_PATH = fileURLToPath(new URL('../../openapi/openapi.yaml', import.meta.url));

export async function loadConformance() {
  const api = await SwaggerParser.dereference(SPEC_PATH);
  // OpenAPI 3.1 schemas are JSON Schema 2020-12; "format" is advisory there.
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const compiled = new Map();
  const validate = (schema, value, what) => {
    let fn = compiled.get(schema);
    if (!fn) {
      fn = ajv.compile(schema);
      compiled.set(schema, fn);
    }
    assert.ok(fn(value), `${what}: ${ajv.errorsText(fn.errors)}\n${JSON.stringify(value)}`);
  };

  function check(r, res, text, what) {
    for (const [name, h] of Object.entries(r.headers ?? {})) {
      const value = res.headers.get(name);
      assert.ok(value !== null, `${what}: header ${name} is documented but missing`);
      const v = h.schema?.type === 'integer' ? Number(value) : value;
      if (h.schema) validate(h.schema, v, `${what}: header ${name}`);
    }
    if (!r.content) {
      assert.equal(text, '', `${what}: the spec documents no body`);
      return null;
    }
    const ct = (res.headers.get('content-type') ?? '').split(';')[0].trim();
    const media = r.content[ct];
    assert.ok(media, `${what}: content type "${ct}" is not documented (${Object.keys(r.content)})`);
    const body = JSON.parse(text);
    if (media.schema) validate(media.schema, body, `${what}: body`);
    // A documented example must not promise another title, status or error code.
    const ex = media.example;
    if (ex && typeof ex === 'object' && (ex.status ?? res.status) === res.status) {
      for (const k of ['type', 'title', 'status']) {
        if (k in ex) assert.equal(body[k], ex[k], `${what}: ${k} differs from the spec's example`);
      }
    }
    return body;
  }

  return {
    api,
    // res: a fetch Response; text: its body, already read. Returns the parsed body (or null).
    conforms(method, template, res, text) {
      const what = `${method} ${template} -> ${res.status}`;
      const item = api.paths[template];
      assert.ok(item, `${template} is not in the spec`);
      const op = item[method.toLowerCase()];
      assert.ok(op, `${method} ${template} is not in the spec`);
      const r = op.responses[String(res.status)];
      assert.ok(r, `${what} is not documented`);
      return check(r, res, text, what);
    },
    // Against a shared response of components.responses (NotFound, MethodNotAllowed, …).
    conformsTo(name, res, text) {
      const r = api.components.responses[name];
      assert.ok(r, `components.responses.${name} is not in the spec`);
      return check(r, res, text, `${name} (${res.status})`);
    },
  };
}
