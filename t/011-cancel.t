# DELETE of scheduled and retrying tasks: taken out of the schedule and
# cancelled at once, kept as long as the workers keep a finished task
# (the result_ttl they publish in {prefix}:config:result_ttl), 7 days when
# none has published a usable value.  Tasks are seeded straight into Redis.
use Test::Nginx::Socket 'no_plan';
use TaskGW::Stack;

my $P = 't011';
our $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});
$redis->cmd('DEL', $_) for @{ $redis->cmd('KEYS', "$P:*") || [] };

our %Id = map { $_ => sprintf('01a20000-0000-7000-8000-0000000011%02d', $_) }
          1 .. 6;

sub task {
    my ($n, $status) = @_;
    $redis->cmd('HSET', "$P:task:$Id{$n}", id => $Id{$n}, queue => 'default',
                type => 't', priority => 'normal', status => $status,
                attempts => ($status eq 'retrying' ? 1 : 0),
                created_at => '1795428000123');
    $redis->cmd('ZADD', "$P:scheduled", '4102444800000', $Id{$n});
}

task(1, 'retrying');
task(2, 'scheduled');
task(3, 'scheduled');
task(4, 'retrying');
task(5, 'scheduled');

no_shuffle();
no_long_string();
run_tests();

my $day = 86_400_000;
for my $n (1 .. 5) {
    my $h = $redis->hgetall("$P:task:$Id{$n}");
    is($h->{status}, 'cancelled', "task $n cancelled");
    is($redis->cmd('ZSCORE', "$P:scheduled", $Id{$n}), undef,
       "task $n left the schedule");
}
my %ttl = map { $_ => $redis->cmd('PTTL', "$P:task:$Id{$_}") } 1 .. 5;
ok($ttl{1} > 3_590_000 && $ttl{1} <= 3_600_000,
   "retrying task: kept the published result_ttl of 1 h ($ttl{1} ms)");
ok($ttl{2} > 3_590_000 && $ttl{2} <= 3_600_000,
   "scheduled task: the same ($ttl{2} ms)");
ok($ttl{3} > 7 * $day - 60_000 && $ttl{3} <= 7 * $day,
   "no published result_ttl: 7 days ($ttl{3} ms)");
ok($ttl{4} > 7 * $day - 60_000 && $ttl{4} <= 7 * $day,
   "an unusable published value: 7 days ($ttl{4} ms)");
ok($ttl{5} > 1_000 * $day - 60_000 && $ttl{5} <= 1_000 * $day,
   "a long result_ttl (1000 d) is followed too ($ttl{5} ms)");

__DATA__

=== TEST 1: a retrying task is cancelled at once
--- init
$::redis->cmd('SET', 't011:config:result_ttl', '3600000');
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t011;
--- config
    location /status/ {
        taskgw_status;
    }
--- request eval
"DELETE /status/$::Id{1}"
--- error_code: 202
--- response_body eval
qq({"id":"$::Id{1}","status":"cancelling"})



=== TEST 2: a scheduled task is cancelled at once
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t011;
--- config
    location /status/ {
        taskgw_status;
    }
--- request eval
["DELETE /status/$::Id{2}", "GET /status/$::Id{2}"]
--- error_code eval
[202, 200]
--- response_body_like eval
['"status":"cancelling"', '"status":"cancelled"']



=== TEST 3: no published result_ttl
--- init
$::redis->cmd('DEL', 't011:config:result_ttl');
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t011;
--- config
    location /status/ {
        taskgw_status;
    }
--- request eval
"DELETE /status/$::Id{3}"
--- error_code: 202



=== TEST 4: a published value that is no duration
--- init
$::redis->cmd('SET', 't011:config:result_ttl', '-5');
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t011;
--- config
    location /status/ {
        taskgw_status;
    }
--- request eval
"DELETE /status/$::Id{4}"
--- error_code: 202



=== TEST 5: a long result_ttl
--- init
$::redis->cmd('SET', 't011:config:result_ttl', '86400000000');
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t011;
--- config
    location /status/ {
        taskgw_status;
    }
--- request eval
"DELETE /status/$::Id{5}"
--- error_code: 202



=== TEST 6: the finished task is 409, an unknown one 404
--- http_config
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t011;
--- config
    location /status/ {
        taskgw_status;
    }
--- request eval
["DELETE /status/$::Id{1}", "DELETE /status/$::Id{6}"]
--- error_code eval
[409, 404]
