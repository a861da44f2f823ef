// Types of the helpers scripts/build-lua.mjs exports (the unit tests import them).
export function stripComments(lua: string): string;
export function expandLua(body: string, file?: string): string;
