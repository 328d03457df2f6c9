-- wrk script: refresh-token rotation. Thread n owns the sessions whose refresh tokens
-- BENCH_RT_<n> lists (comma-separated, one per connection) and always sends the token the
-- previous answer gave: presenting an old one would end the session (reuse detection).
-- BENCH_APP names the public application.
local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  pool = {}
  for t in string.gmatch(os.getenv("BENCH_RT_" .. id) or "", "[^,]+") do
    table.insert(pool, t)
  end
  app = os.getenv("BENCH_APP")
  failures = 0
end

function request()
  -- A connection sends its next request only after its answer, so the pool (one token per
  -- connection, plus one for the request wrk builds once to check the script) never runs dry
  -- while every rotation succeeds; when one fails its session is lost and the pool shrinks.
  local token = table.remove(pool, 1) or "exhausted"
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"},
    "grant_type=refresh_token&client_id=" .. app .. "&refresh_token=" .. token)
end

function response(status, headers, body)
  local next_token = body:match('"refresh_token":"([^"]+)"')
  if status == 200 and next_token then
    table.insert(pool, next_token)
  else
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    local f = t:get("failures")
    if f > 0 then
      io.write(string.format("refresh: thread %d saw %d failed rotations\n", t:get("id"), f))
    end
  end
end
