# Tokens and tasks: the token's name is stored as the task's owner; a dev
# token reads and cancels only its own tasks (someone else's is 404, as an
# unknown id), ops and admin see all; queues= limits reads and cancels.
use Test::Nginx::Socket 'no_plan';
use TaskGW::Stack;

my $P = 't023';
my $redis = TaskGW::Stack::Redis->new($ENV{TEST_NGINX_REDIS_PORT});

for my $k (@{ $redis->cmd('KEYS', "$P:*") || [] }) {
    $redis->cmd('DEL', $k);
}

sub task {
    my ($id, %f) = @_;
    $redis->cmd('HSET', "$P:task:$id", id => $id, queue => 'default',
                type => 't', priority => 'normal', status => 'queued',
                payload => 'p', created_at => '1795428000123',
                attempts => '0', %f);
}

task('02300000-0000-7000-8000-00000000000a', owner => 'ci-bot');
task('02300000-0000-7000-8000-00000000000b', owner => 'other');
task('02300000-0000-7000-8000-00000000000c', owner => 'ci-bot');
task('02300000-0000-7000-8000-00000000000d', owner => 'other');
task('02300000-0000-7000-8000-00000000000e', owner => 'near');
task('02300000-0000-7000-8000-00000000000f', owner => 'near',
     queue => 'reports');

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('user_files', <<'EOT');
>>> tokens
ci-bot   dev   sha256:9cf288d5f34fe05ea6e70bc7401039bb465a79c2565eaca578026bfc55ebd3ac
oncall   ops   sha256:662461e117180c204a5c6ca29969f9f7c44abe0bc15190f75860067e0cd2b3da
other    dev   sha256:c53dd9e33af4aad2168af52b437b2510bb8703b2140f78c1d31c2111579efdef
near     dev   sha256:322c50cdace98a567261848a1624c9520df95996ca5d845f016feb079365b07f queues=reports,mail
EOT
    $block->set_value('http_config', <<'EOC');
    taskgw_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    taskgw_prefix t023;
    taskgw_tokens $TEST_NGINX_SERVER_ROOT/html/tokens;
EOC
    $block->set_value('config', <<'EOC') unless defined $block->config;
    location /status/ {
        taskgw_auth dev;
        taskgw_status;
    }
    location /tasks {
        taskgw_auth dev;
        taskgw_enqueue queue=owned;
    }
    location /open {
        taskgw_enqueue queue=anon;
    }
    location /open-status/ {
        taskgw_status;
    }
EOC
});

no_shuffle();
no_long_string();
run_tests();

# What the requests left in Redis.
sub field { $redis->cmd('HGET', "$P:task:$_[0]", $_[1]) }

is(field('02300000-0000-7000-8000-00000000000b', 'cancel_requested'), undef,
   "a dev token's DELETE of another's task changed nothing");
is(field('02300000-0000-7000-8000-00000000000c', 'cancel_requested'), '1',
   'a dev token cancelled its own task');
is(field('02300000-0000-7000-8000-00000000000d', 'cancel_requested'), '1',
   "an ops token cancelled another's task");
is(field('02300000-0000-7000-8000-00000000000e', 'cancel_requested'), undef,
   'a token cannot cancel outside its queues');

my %owners;
for my $k (@{ $redis->cmd('KEYS', "$P:task:*") || [] }) {
    my $h = $redis->hgetall($k);
    next unless ($h->{queue} // '') =~ /^(owned|anon)$/;
    push @{ $owners{$h->{queue}} }, $h->{owner};
}
is_deeply($owners{owned}, ['oncall'], 'the enqueuing token is the owner');
is_deeply($owners{anon}, [undef],
          'without taskgw_auth the task has no owner field');

__DATA__

=== TEST 1: a dev token reads its own task
--- request
GET /status/02300000-0000-7000-8000-00000000000a
--- more_headers
X-API-Token: dev-secret-token-1
--- error_code: 200
--- response_body_like: "id":"02300000-0000-7000-8000-00000000000a",.*"owner":"ci-bot"



=== TEST 2: a dev token reading another's task gets 404, as for an unknown id
--- request
GET /status/02300000-0000-7000-8000-00000000000b
--- more_headers
X-API-Token: dev-secret-token-1
--- error_code: 404
--- response_body chomp
{"error":"not_found","message":"no such task"}



=== TEST 3: an ops token reads anyone's task
--- request
GET /status/02300000-0000-7000-8000-00000000000b
--- more_headers
X-API-Token: ops-secret-token-2
--- error_code: 200
--- response_body_like: "owner":"other"



=== TEST 4: a dev token cancelling another's task gets 404
--- request
DELETE /status/02300000-0000-7000-8000-00000000000b
--- more_headers
X-API-Token: dev-secret-token-1
--- error_code: 404
--- response_body chomp
{"error":"not_found","message":"no such task"}



=== TEST 5: a dev token cancels its own task
--- request
DELETE /status/02300000-0000-7000-8000-00000000000c
--- more_headers
X-API-Token: dev-secret-token-1
--- error_code: 202
--- response_body chomp
{"id":"02300000-0000-7000-8000-00000000000c","status":"cancelling"}



=== TEST 6: an ops token cancels another's task
--- request
DELETE /status/02300000-0000-7000-8000-00000000000d
--- more_headers
X-API-Token: ops-secret-token-2
--- error_code: 202



=== TEST 7: queues=: a task in another queue is 403 to read
--- request
GET /status/02300000-0000-7000-8000-00000000000e
--- more_headers
X-API-Token: qdev-secret-6
--- error_code: 403
--- response_body chomp
{"error":"forbidden","message":"queue not in the token's queues"}



=== TEST 8: queues=: a task in one of its queues reads fine
--- request
GET /status/02300000-0000-7000-8000-00000000000f
--- more_headers
X-API-Token: qdev-secret-6
--- error_code: 200
--- response_body_like: "queue":"reports"



=== TEST 9: queues=: a task in another queue is 403 to cancel
--- request
DELETE /status/02300000-0000-7000-8000-00000000000e
--- more_headers
X-API-Token: qdev-secret-6
--- error_code: 403
--- response_body_like: "error":"forbidden"



=== TEST 10: status without a token: 401
--- request
GET /status/02300000-0000-7000-8000-00000000000a
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer



=== TEST 11: an unknown id for a dev token is 404 too
--- request
GET /status/02300000-0000-7000-8000-0000000000ff
--- more_headers
X-API-Token: dev-secret-token-1
--- error_code: 404



=== TEST 12: an enqueue stores the token's name as the owner
--- request
POST /tasks
x
--- more_headers
X-API-Token: ops-secret-token-2
--- error_code: 202



=== TEST 13: without taskgw_auth the owner is empty and status shows null
--- request
POST /open
x
--- error_code: 202



=== TEST 14: without taskgw_auth, status shows every task
--- request
GET /open-status/02300000-0000-7000-8000-00000000000b
--- error_code: 200
--- response_body_like: "owner":"other"
