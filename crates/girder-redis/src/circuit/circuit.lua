-- girder-redis: one circuit shared by a fleet, in one script so that an
-- admission costs one round trip and is decided atomically. Loaded once,
-- called by EVALSHA (src/circuit.rs builds the keys and arguments; NOTE:
-- the two files share this layout).
--
-- KEYS[1]  the open marker: 'open', set with PX = the open period, so
--          that its PTTL is the time left on Redis's own clock
-- KEYS[2]  the half-open record: a hash, 'v' -> '1' and, per probe slot
--          held, 't:<token>' -> the end of its lease (ms, Redis TIME);
--          it expires some time after the open period ends
-- ARGV[1]  'admit' | 'open'
-- admit: ARGV[2] token, ARGV[3] max probes, ARGV[4] lease ms
--   -> {0} closed, {1, ms left} open, {2, 1|0} half-open, slot held or not
-- open: ARGV[2] open ms, ARGV[3] ms the record is kept (open + linger)
--   -> 1
--
-- publish_closed (DEL of both keys) and release_probe (HDEL of the
-- token's field: it can only free that token's own slot) are plain
-- commands.
--
-- A value this script did not write (another type, another text, a
-- marker without expiry, a lease that is not a number) counts as absent:
-- it is deleted, and a later 'open' writes over it. Never an error.

local MARK = 'open'
-- A lease ending further ahead than the longest lease allowed is foreign.
local MAX_LEASE_MS = 3600000
-- A record this large was not written by this script (at most 1000 probes).
local MAX_FIELDS = 2048

local op = ARGV[1]

-- Integers as text: tostring would write 1.7e+12.
local function int(n)
  return string.format('%d', n)
end

-- The open period left (ms), or 0. A foreign marker is deleted.
local function open_left()
  local v = redis.pcall('GET', KEYS[1])
  if v == false then
    return 0
  end
  if v == MARK then
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl > 0 then
      return ttl
    end
  end
  redis.call('DEL', KEYS[1])
  return 0
end

-- Whether a record of this script's is there. A foreign one is deleted.
local function has_record()
  local kind = redis.call('TYPE', KEYS[2])['ok']
  if kind == 'none' then
    return false
  end
  if kind == 'hash'
    and redis.call('HLEN', KEYS[2]) <= MAX_FIELDS
    and redis.call('HGET', KEYS[2], 'v') == '1'
    and redis.call('PTTL', KEYS[2]) > 0 then
    return true
  end
  redis.call('DEL', KEYS[2])
  return false
end

if op == 'admit' then
  local left = open_left()
  if left > 0 then
    return {1, left}
  end
  if not has_record() then
    return {0}
  end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local mine = 't:' .. ARGV[2]
  local max = tonumber(ARGV[3])
  local lease = tonumber(ARGV[4])
  local fields = redis.call('HGETALL', KEYS[2])
  local held, holds = 0, false
  for i = 1, #fields, 2 do
    local field = fields[i]
    if field ~= 'v' then
      local ends = tonumber(fields[i + 1])
      if string.sub(field, 1, 2) ~= 't:' or ends == nil or ends ~= ends
        or ends <= now or ends > now + MAX_LEASE_MS then
        -- An expired lease (its holder never gave it back), or foreign.
        redis.call('HDEL', KEYS[2], field)
      elseif field == mine then
        holds = true
      else
        held = held + 1
      end
    end
  end
  if holds or held < max then
    -- The same token asking again keeps its slot, on a fresh lease.
    redis.call('HSET', KEYS[2], mine, int(now + lease))
    return {2, 1}
  end
  return {2, 0}
end

if op == 'open' then
  local open_ms = tonumber(ARGV[2])
  local keep_ms = tonumber(ARGV[3])
  -- A period already published that ends later is kept.
  if open_left() < open_ms then
    redis.call('SET', KEYS[1], MARK, 'PX', int(open_ms))
  end
  local kept = 0
  if has_record() then
    kept = redis.call('PTTL', KEYS[2])
  end
  -- A new open period: the probes of the last one no longer hold slots.
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'v', '1')
  redis.call('PEXPIRE', KEYS[2], int(math.max(kept, keep_ms)))
  return 1
end

return redis.error_reply('girder-redis circuit script: unknown op')
