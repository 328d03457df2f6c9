-- wrk script: refresh-token rotation. Each wrk thread owns one session (one connection per
-- thread, so its requests are sequential) and sends the refresh token the previous answer gave;
-- presenting an old one would end the session (reuse detection). IDPD_RT_<n> seed the chains,
-- IDPD_APP names the public application.
local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  token = os.getenv("IDPD_RT_" .. id)
  app = os.getenv("IDPD_APP")
  failures = 0
end

function request()
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"},
    "grant_type=refresh_token&client_id=" .. app .. "&refresh_token=" .. token)
end

function response(status, headers, body)
  local next_token = body:match('"refresh_token":"([^"]+)"')
  if status == 200 and next_token then
    token = next_token
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
