-- wrk script: a credential-stuffing storm. Every request tries a wrong password for a name never
-- tried before, so idpd's per-name lockout never stops it and each one costs an Argon2id
-- verification (of the dummy hash). BENCH_APP names the public application.
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  app = os.getenv("BENCH_APP")
  n = 0
end

function request()
  n = n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"},
    "grant_type=password&client_id=" .. app .. "&username=storm-" .. tid .. "-" .. n ..
    "%40example.com&password=wrong+password")
end
