-- girder-redis: the shared quota of one partition, in one script so that a
-- call costs one round trip and every quota that applies to it is tested
-- and taken atomically. Loaded once, called by EVALSHA (src/script.rs
-- builds the keys and arguments; NOTE: the two files share this layout).
--
-- KEYS[1]   the partition's pause: the instant it ends (us, Redis TIME)
-- KEYS[2]   the partition's adopted quotas: a hash, name -> "<interval> <burst>";
--           each one's TAT lives at KEYS[2] .. ":<interval>/<burst>"
-- KEYS[3..] the configured quotas' TATs: the partition's, then the global ones
-- ARGV[1]   'acquire' | 'release' | 'observe'
-- acquire, release: ARGV[2] = how many of KEYS[3..] are the partition's,
--   then <interval us> <burst> for each of KEYS[3..]
-- observe: ARGV[2] = pause us (0: none), ARGV[3] = how many announced
--   quotas follow, each as <name> <interval us, 0 to forget it> <burst>
--   <remaining, -1 if unknown> <hash expiry ms>
--
-- GCRA keeps one number per quota, the theoretical arrival time (TAT): a
-- call is allowed when TAT - interval * (burst - 1) <= now, and then moves
-- TAT to max(TAT, now) + interval. Time is Redis's own, so the clocks of
-- the processes sharing the quota do not matter.

local op = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- Integers as text: tostring would write 1.7e+15.
local function int(n)
  return string.format('%d', n)
end

-- A value this script did not write (another type, or not a number)
-- reads as absent, and is overwritten.
local function parse(v)
  if type(v) ~= 'string' then
    return nil
  end
  local n = tonumber(v)
  if n == nil or n ~= n then
    return nil
  end
  return n
end

local function num(key)
  return parse(redis.pcall('GET', key))
end

-- No grant leaves a TAT past now + interval * burst: a later one is
-- foreign (or was written before the server's clock went back). Either
-- way the quota counts as full.
local function tat_of(g)
  local tat = g[5]
  if tat == false then
    tat = num(g[1])
  end
  if tat == nil or tat < now or tat > now + g[2] * g[3] then
    return now
  end
  return tat
end

-- Kept until the quota is full again, then gone.
local function store(key, tat)
  if tat <= now then
    redis.call('DEL', key)
  else
    redis.call('SET', key, int(tat), 'PX', math.ceil((tat - now) / 1000))
  end
end

-- Every key but the adopted hash in one call: MGET answers nil for a
-- key that holds another type, where GET would fail.
local function values()
  local v = redis.call('MGET', unpack(KEYS))
  local out = {}
  for i = 1, #KEYS do
    out[i] = parse(v[i])
  end
  return out
end

-- The gates of a call: { key, interval, burst, scope (1 partition, 2
-- global), TAT read (nil: absent; false: not read yet) }.
local function gates(read)
  local list = {}
  local npart = tonumber(ARGV[2])
  for i = 3, #KEYS do
    local q = i - 2
    local scope = 2
    if q <= npart then
      scope = 1
    end
    local tat = false
    if read then
      tat = read[i]
    end
    list[#list + 1] = { KEYS[i], tonumber(ARGV[1 + 2 * q]), tonumber(ARGV[2 + 2 * q]), scope, tat }
  end
  local adopted = redis.pcall('HGETALL', KEYS[2])
  if type(adopted) == 'table' and adopted.err == nil then
    for i = 2, #adopted, 2 do
      local interval, burst = string.match(adopted[i], '^(%d+) (%d+)$')
      interval, burst = tonumber(interval), tonumber(burst)
      if interval and burst and interval >= 1 and burst >= 1 then
        list[#list + 1] = { KEYS[2] .. ':' .. adopted[i]:gsub(' ', '/'), interval, burst, 1, false }
      end
    end
  end
  return list
end

-- A pause this script wrote always expires: one without expiry is foreign.
local function paused_until(p)
  if p == nil or p <= now then
    return nil
  end
  if redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('DEL', KEYS[1])
    return nil
  end
  return p
end

if op == 'acquire' then
  local read = values()
  local p = paused_until(read[1])
  if p then
    return { 0, p - now, 1, 1 }
  end
  local list = gates(read)
  local tats = {}
  local wait, scope = 0, 0
  for i, g in ipairs(list) do
    local tat = tat_of(g)
    local allowed_at = tat - g[2] * (g[3] - 1)
    if allowed_at > now and allowed_at - now > wait then
      wait, scope = allowed_at - now, g[4]
    end
    tats[i] = tat + g[2]
  end
  if wait > 0 then
    return { 0, wait, scope, 0 }
  end
  for i, g in ipairs(list) do
    store(g[1], tats[i])
  end
  return { 1 }
elseif op == 'release' then
  for _, g in ipairs(gates(values())) do
    local tat = tat_of(g)
    if tat > now then
      store(g[1], math.max(tat - g[2], now))
    end
  end
  return { 1 }
elseif op == 'observe' then
  local pause = tonumber(ARGV[2])
  if pause > 0 then
    local till = now + pause
    local p = paused_until(num(KEYS[1]))
    if p and p > till then
      till = p
    end
    redis.call('SET', KEYS[1], int(till), 'PX', math.ceil((till - now) / 1000))
  end
  local kind = redis.call('TYPE', KEYS[2])['ok']
  if kind ~= 'hash' and kind ~= 'none' then
    redis.call('DEL', KEYS[2])
  end
  local n = tonumber(ARGV[3])
  for a = 0, n - 1 do
    local b = 4 + a * 5
    local name, interval, burst = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
    local remaining, expiry = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
    if interval == 0 then
      redis.call('HDEL', KEYS[2], name)
    elseif redis.call('HEXISTS', KEYS[2], name) == 1 or redis.call('HLEN', KEYS[2]) < 4 then
      local value = int(interval) .. ' ' .. int(burst)
      redis.call('HSET', KEYS[2], name, value)
      redis.call('PEXPIRE', KEYS[2], expiry)
      if remaining >= 0 then
        -- Keep at most `remaining` permits, never more than there are.
        local key = KEYS[2] .. ':' .. int(interval) .. '/' .. int(burst)
        local tat = tat_of({ key, interval, burst, 1, false })
        local spent = burst - math.min(remaining, burst)
        local target = now + spent * interval
        if target > tat then
          store(key, target)
        end
      end
    end
  end
  return { 1 }
end
return redis.error_reply('girder-redis: unknown op')
