// @vitest-environment node
// The local Convex stand-in (standin/), started for real on port 0 and
// spoken to over HTTP and WebSocket: the suite is standin/tests/server.suite.ts.
// It lives here only so that `npm run test:convex` runs it; node environment,
// since it starts processes and opens sockets.
import "../../standin/tests/server.suite";
