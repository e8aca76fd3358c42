jest.mock('@jupyterlab/services', () => ({ ServerConnection: {} }));

import { ApiError, apiUrl, parseError } from '../src/api';

describe('parseError', () => {
  it('reads the one error shape of the server', () => {
    const error = parseError(400, JSON.stringify({ error: { code: 'bad_request', message: 'bad filter at column 3' } }));
    expect(error).toBeInstanceOf(ApiError);
    expect(error.code).toBe('bad_request');
    expect(error.message).toBe('bad filter at column 3');
    expect(error.status).toBe(400);
  });
  it('falls back for anything else', () => {
    expect(parseError(502, '<html>proxy</html>').message).toBe('the server answered 502');
    expect(parseError(500, JSON.stringify({ nope: 1 })).code).toBe('http_error');
  });
});

describe('apiUrl', () => {
  it('encodes each path part and the query', () => {
    expect(apiUrl('http://h/base/', ['models', 'a/b', 'aliases'])).toBe('http://h/base/mlnb/api/models/a%2Fb/aliases');
    expect(apiUrl('/', ['runs'], { filter: "name = 'x y'", limit: 20, offset: undefined }))
      .toBe("/mlnb/api/runs?filter=name%20%3D%20'x%20y'&limit=20");
  });
});
