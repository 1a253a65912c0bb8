-- wrk script for bench/elections_vote.py: each request is one voter's vote, each voter once.
-- The voters file has one "token candidate_id" line per voter; thread i of n takes every
-- n-th line from line i. A thread that runs out of voters repeats its last one (answers 409),
-- which the benchmark reports as errors rather than counting as votes.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path, total = args[1], tonumber(args[2])
  voters = {}
  local n = 0
  for line in io.lines(path) do
    if n % total == index then
      local token, candidate = line:match("^(%S+) (%S+)$")
      table.insert(voters, {token, candidate})
    end
    n = n + 1
  end
  next_voter = 1
  statuses = {}
end

function request()
  local voter = voters[math.min(next_voter, #voters)]
  next_voter = next_voter + 1
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. voter[1],
    ["Content-Type"] = "application/json",
  }, '{"candidate_id":"' .. voter[2] .. '"}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, count in pairs(counts) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    table.insert(parts, '"' .. status .. '":' .. count)
  end
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"seconds":%.3f,"p50_ms":%.2f,"p99_ms":%.2f,"mean_ms":%.2f,"statuses":{%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.mean / 1000, table.concat(parts, ",")))
end
