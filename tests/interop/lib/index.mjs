// index.mjs: everything the interop tests use, from one import.
export * from './env.mjs'
export * from './procs.mjs'
export * from './relay.mjs'
export * from './jsnode.mjs'
export * from './client.mjs'
export * from './echo.mjs'
