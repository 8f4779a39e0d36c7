use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use SalesTest;
use WebhookReceiver;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

# Webhooks end to end: a private nginx delivers the outbox to mock
# receivers (t/lib/WebhookReceiver.pm) on 127.0.0.1. Short waits keep the
# retries quick; every case has its own endpoint and receiver and waits
# with a deadline for what it expects.

# --- the signature scheme itself: the Standard Webhooks test vector -----------------------------------------
{
    my $req = { headers => { 'webhook-id'        => 'msg_p5jXN8AQM9LWM0D4loKWxJek',
                             'webhook-timestamp' => '1614265330',
                             'webhook-signature' => 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' },
                body => '{"test": 2432232314}' };
    my $key = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    is(WebhookReceiver::sign($key, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'),
       'g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=', 'sign() reproduces the Standard Webhooks test vector');
    ok(WebhookReceiver::verify($req, $key), 'verify() accepts the test vector');
    ok(WebhookReceiver::verify({ %$req, headers => { %{ $req->{headers} },
        'webhook-signature' => 'v1,AAAA v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' } }, $key),
       'verify() accepts when any one of several signatures matches');
    ok(!WebhookReceiver::verify({ %$req, body => '{"test": 2432232315}' }, $key), 'verify() refuses another body');
    ok(!WebhookReceiver::verify($req, 'whsec_' . MIME::Base64::encode_base64('x' x 24, '')), 'verify() refuses another key');
    ok(!WebhookReceiver::verify({ %$req, headers => { %{ $req->{headers} }, 'webhook-signature' => 'v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' } }, $key),
       'verify() takes only v1 signatures');
}

my @BASE = ('sales_webhook_allow 127.0.0.0/8 ::1/128;',
            'sales_webhook_poll 100ms;',
            'sales_webhook_retry 1s 1s 2s;',
            'sales_webhook_timeout 3s;');
my $t   = SalesTest->new(workers => 2, http_extra => join "\n    ", @BASE);
my $adm = $t->{admin};
my $ae  = $t->user('ae');
my $J   = $SalesTest::JSON;
my $T   = JSON::PP::true;
my $F   = JSON::PP::false;
my $ISO = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

# --- helpers -------------------------------------------------------------------------------------------------

sub tok  { ref $_[0] ? $_[0]{token} : $_[0] }
sub api  { my ($inst, $method, $path, $who, $body) = @_; $inst->api($method, $path, tok($who), $body) }
sub call { api($t, @_) }
sub epoch {
    my ($y, $mo, $d, $h, $mi, $s) = ($_[0] // '') =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/ or return undef;
    return timegm($s, $mi, $h, $d, $mo - 1, $y);
}
# A case of its own: a die fails it and the next case still runs.
sub case {
    my ($name, $code) = @_;
    subtest $name => sub {
        my $ok = eval { $code->(); 1 };
        fail("died: $@") unless $ok;
        done_testing;
    };
}

my $NRCV = 0;
sub receiver {
    my ($inst, %o) = @_;
    return WebhookReceiver->new(dir => "$inst->{dir}/receiver-" . ++$NRCV, %o);
}
sub endpoint {
    my ($inst, %body) = @_;
    return must(api($inst, POST => '/webhooks/endpoints', $inst->{admin}, \%body), 201, "create endpoint $body{url}");
}
sub drop { my ($inst, @eps) = @_; api($inst, DELETE => "/webhooks/endpoints/$_->{id}", $inst->{admin}) for @eps }
sub endpoint_get {
    my ($inst, $id) = @_;
    my $r = api($inst, GET => "/webhooks/endpoints/$id", $inst->{admin});
    return ref $r->{json} eq 'HASH' ? $r->{json} : {};
}
sub client {
    my ($inst, $who, $name) = @_;
    return must(api($inst, POST => '/clients', $who, { name => $name }), 201, "client $name");
}
# The outbox: where it ends now, and the events after a mark.
sub mark { my $inst = shift; $inst->sql('select coalesce(max(id), 0) from outbox') // 0 }
sub events_after {
    my ($inst, $mark, $where) = @_;
    my $out = $inst->sql("select id, event_id, type, subject_type, subject_id, payload from outbox where id > $mark"
                         . ($where ? " and $where" : '') . ' order by id') // '';
    my @ev;
    for (grep { length } split /\n/, $out) {
        my %e;
        @e{qw(id event_id type subject_type subject_id payload)} = split /\|/, $_, 6;
        push @ev, \%e;
    }
    return @ev;
}
# The receiver's requests, on one path when one is given.
sub hooks { my ($rcv, $path) = @_; grep { !defined $path || $_->{path} eq $path } $rcv->requests }
sub wid   { $_[0]{headers}{'webhook-id'} // '' }
sub body  { my $b = eval { $J->decode($_[0]{body}) }; ref $b eq 'HASH' ? $b : {} }
sub count_of { my ($rcv, $path, $id) = @_; scalar grep { wid($_) eq $id } hooks($rcv, $path) }
# True once every one of the ids has arrived on the path.
sub wait_ids {
    my ($rcv, $path, $ids, $secs) = @_;
    return poll(sub {
        my %got = map { wid($_) => 1 } hooks($rcv, $path);
        !grep { !$got{$_} } @$ids;
    }, $secs);
}
# Ids in the order they first arrived.
sub first_seen {
    my ($rcv, $path) = @_;
    my %seen;
    return grep { !$seen{$_}++ } map { wid($_) } hooks($rcv, $path);
}
# One delivery, whole (GET /webhooks/deliveries/{id}), found by endpoint and event.
sub delivery {
    my ($inst, $ep, $evt) = @_;
    my $r = api($inst, GET => "/webhooks/deliveries?endpoint_id=$ep->{id}&event_id=$evt", $inst->{admin});
    my $it = ref $r->{json} eq 'HASH' && ref $r->{json}{items} eq 'ARRAY' ? $r->{json}{items}[0] : undef;
    return {} unless $it && $it->{id};
    $r = api($inst, GET => "/webhooks/deliveries/$it->{id}", $inst->{admin});
    return ref $r->{json} eq 'HASH' ? $r->{json} : {};
}
sub wait_delivery {
    my ($inst, $ep, $evt, $cond, $secs) = @_;
    my $last = {};
    poll(sub { $last = delivery($inst, $ep, $evt); $last->{id} && $cond->($last) }, $secs);
    return $last;
}
sub attempts { ref $_[0]{attempts} eq 'ARRAY' ? $_[0]{attempts} : [] }
# The delivery a ping answers: the delivery itself, or {delivery_id}, or {delivery: {id}}.
sub ping_delivery {
    my $j = shift;
    return 0 unless ref $j eq 'HASH';
    return $j->{delivery_id} // (ref $j->{delivery} eq 'HASH' ? $j->{delivery}{id} : undef) // $j->{id} // 0;
}
# The endpoint an endpoint_disabled event names.
sub named_endpoint {
    my $d = shift;
    return undef unless ref $d eq 'HASH';
    return $d->{endpoint_id} // (ref $d->{endpoint} eq 'HASH' ? $d->{endpoint}{id} : undef) // $d->{id};
}

my $c1 = client($t, $ae, 'Primul SRL');

# --- cases ---------------------------------------------------------------------------------------------------

case 'events arrive signed and complete; endpoints get only the types they asked for' => sub {
    my $rcv = receiver($t);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.*']);
    my $o = endpoint($t, url => $rcv->url('/opp'), events => ['opportunity.created']);
    my $m = mark($t);
    my $c = client($t, $ae, 'Semnat SRL');
    must(call(PATCH => "/clients/$c->{id}", $ae, { city => 'Iași' }), 200, 'update client');
    must(call(POST => '/opportunities', $ae, { client_id => $c->{id}, title => 'ERP', expected_close => '2027-03-31' }),
         201, 'opportunity');
    my @ev  = events_after($t, $m);
    my @cev = grep { $_->{type} =~ /^client\./ } @ev;
    my @oev = grep { $_->{type} eq 'opportunity.created' } @ev;
    is(scalar @cev, 2, 'two client events in the outbox');
    is(scalar @oev, 1, 'one opportunity.created');
    my %byid = map { $_->{event_id} => $_ } @ev;

    ok(wait_ids($rcv, '/hook', [map { $_->{event_id} } @cev], 10), 'the client events arrive');
    ok(wait_ids($rcv, '/opp', [map { $_->{event_id} } @oev], 10), 'the opportunity event arrives at its endpoint');
    sleep 0.3;
    my @got = hooks($rcv, '/hook');
    is(scalar @got, 2, 'each client event once');
    for my $q (@got) {
        my $id = wid($q);
        my $ev = $byid{$id} || {};
        my $payload = eval { $J->decode($ev->{payload} // '') } || {};
        my $b = body($q);
        is($q->{method}, 'POST', "$id: POST");
        like($q->{headers}{'content-type'} // '', qr{^application/json\b}, "$id: Content-Type application/json");
        like($id, qr/^evt_/, "$id: webhook-id is an event id");
        ok($ev->{event_id}, "$id: webhook-id is the outbox event_id");
        my $ts = $q->{headers}{'webhook-timestamp'} // '';
        ok($ts =~ /^\d+$/ && abs($ts - time) < 300, "$id: webhook-timestamp is now in Unix seconds") or diag($ts);
        ok(WebhookReceiver::verify($q, $e->{secret}), "$id: signed with the endpoint's secret")
            or diag($q->{headers}{'webhook-signature'} // 'no signature');
        is(scalar(WebhookReceiver::signatures($q)), 1, "$id: one signature");
        ok(!WebhookReceiver::verify($q, $o->{secret}), "$id: not with another endpoint's secret");
        is_deeply([sort keys %$b], [qw(data timestamp type)], "$id: the body is {type, timestamp, data}") or diag($q->{body});
        is($b->{type}, $ev->{type}, "$id: type");
        is($b->{timestamp}, $payload->{timestamp}, "$id: timestamp of the event");
        like($b->{timestamp} // '', $ISO, "$id: timestamp ISO");
        is_deeply($b->{data}, $payload->{data}, "$id: data as in the outbox");
    }
    is_deeply([first_seen($rcv, '/hook')], [map { $_->{event_id} } @cev], 'created before updated');
    ok(!grep({ (body($_)->{type} // '') !~ /^client\./ } @got), 'no other types to client.*');
    ok(!grep({ (body($_)->{type} // '') ne 'opportunity.created' } hooks($rcv, '/opp')), 'only opportunity.created to the other');
    my $r = call(GET => "/webhooks/deliveries?endpoint_id=$e->{id}&event=opportunity.created", $adm);
    is(scalar @{ ($r->{json} || {})->{items} || [] }, 0, 'no delivery of opportunity.created for the client.* endpoint');
    drop($t, $e, $o);
};

case 'a 500 then a 200: one delivery, two attempts, the same webhook-id' => sub {
    my $rcv = receiver($t);
    $rcv->set(statuses => [500], default => 200);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    my $m = mark($t);
    client($t, $ae, 'Reincercare SRL');
    my ($ev) = events_after($t, $m, "type = 'client.created'");
    my $id = $ev->{event_id} // 'none';
    ok(poll(sub { count_of($rcv, '/hook', $id) >= 2 }, 10), 'two requests');
    my @q = grep { wid($_) eq $id } hooks($rcv, '/hook');
    is(scalar @q, 2, 'exactly two');
    is_deeply([map { $_->{status} } @q], [500, 200], 'answered 500, then 200');
    ok(!grep({ !WebhookReceiver::verify($_, $e->{secret}) } @q), 'both signed');
    cmp_ok(($q[1] || {})->{time} - ($q[0] || {})->{time}, '>=', 0.85, 'the retry waits about 1 s');
    my $d = wait_delivery($t, $e, $id, sub { ($_[0]{status} // '') eq 'succeeded' }, 10);
    is($d->{status}, 'succeeded', 'succeeded');
    is($d->{attempt_count}, 2, 'attempt_count 2');
    is(scalar @{ attempts($d) }, 2, 'two attempts');
    is((attempts($d)->[0] || {})->{response_status}, 500, 'the first answered 500');
    like((attempts($d)->[0] || {})->{response_excerpt} // '', qr/status 500/, 'with its answer kept');
    is((attempts($d)->[1] || {})->{response_status}, 200, 'the second 200');
    is($d->{last_response_status}, 200, 'last_response_status 200');
    like($d->{delivered_at} // '', $ISO, 'delivered_at');
    drop($t, $e);
};

case 'a receiver down while 5 events happen gets them all, in order, when it is back' => sub {
    my $rcv = receiver($t);
    my ($port, $dir) = ($rcv->port, $rcv->dir);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.*']);
    $rcv->stop;
    my $down = time;
    my $m = mark($t);
    my $c = client($t, $ae, 'Jos SRL');
    must(call(PATCH => "/clients/$c->{id}", $ae, { city => "Oras $_" }), 200, "update $_") for 1 .. 4;
    my @ev = events_after($t, $m);
    is(scalar @ev, 5, 'five events of one client');
    my $first = $ev[0]{event_id} // 'none';
    my $d = wait_delivery($t, $e, $first, sub { @{ attempts($_[0]) } >= 1 }, 1.4);
    my $a0 = attempts($d)->[0] || {};
    ok(!defined $a0->{response_status} && length($a0->{error} // ''), 'a refused connection is a failed attempt with an error')
        or diag($J->encode($d));
    like($a0->{error} // '', qr/^cannot connect to 127\.0\.0\.1:\d+: Connection refused$/, 'the error names the address and why');
    my $left = $down + 1.5 - time;
    sleep $left if $left > 0;
    my $back = WebhookReceiver->new(dir => $dir, port => $port);
    ok(wait_ids($back, '/hook', [map { $_->{event_id} } @ev], 12), 'all five arrive once it is back');
    is_deeply([first_seen($back, '/hook')], [map { $_->{event_id} } @ev], 'in the order they happened');
    ok(!grep({ !WebhookReceiver::verify($_, $e->{secret}) } hooks($back, '/hook')), 'all signed');
    $back->stop;
    drop($t, $e);
};

case '100 events to a receiver that takes 1 s each: delivered in parallel, the API and pixel stay fast' => sub {
    my $rcv = receiver($t);
    $rcv->set(delay => 1);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    my $m = mark($t);
    my $t0 = time;
    client($t, $ae, "Volum $_ SRL") for 1 .. 100;
    my @ids = map { $_->{event_id} } events_after($t, $m, "type = 'client.created'");
    is(scalar @ids, 100, '100 events');
    my $http = HTTP::Tiny->new(keep_alive => 0, timeout => 10);
    my ($api_max, $pix_max, $n, $all, $bad) = (0, 0, 0, 0, '');
    while (time < $t0 + 15) {
        my $s = time;
        my $r = call(GET => "/clients/$c1->{id}", $adm);
        my $dt = time - $s;
        $api_max = $dt if $dt > $api_max;
        $bad .= "api $r->{status} " unless $r->{status} == 200;
        $s = time;
        my $p = $http->get("http://127.0.0.1:$t->{port}/t/forged-token-$n.gif");
        $dt = time - $s;
        $pix_max = $dt if $dt > $pix_max;
        $bad .= "pixel $p->{status} " . ($p->{headers}{'content-type'} // '-') . ' '
            unless $p->{status} == 200 && ($p->{headers}{'content-type'} // '') eq 'image/gif';
        $n++;
        if (!$all) {
            my %got = map { wid($_) => 1 } hooks($rcv, '/hook');
            $all = time - $t0 unless grep { !$got{$_} } @ids;
        }
        last if $all && $n >= 5;
        sleep 0.1;
    }
    ok($all, 'all 100 arrive within 15 s') and diag(sprintf 'all 100 arrived %.1f s after the first was created', $all);
    my $left = $t0 + 16 - time;
    ok(poll(sub { (endpoint_get($t, $e->{id})->{pending} // -1) == 0 }, $left > 1 ? $left : 1), 'and are all answered: pending 0');
    is($bad, '', 'GET /api/clients/1 200 and the pixel 200 image/gif (a forged token too) meanwhile');
    cmp_ok($api_max, '<', 1, sprintf('the API answers in under 1 s (slowest %.3f s of %d)', $api_max, $n));
    cmp_ok($pix_max, '<', 1, sprintf('the pixel answers in under 1 s (slowest %.3f s of %d)', $pix_max, $n));
    drop($t, $e);
};

case 'retries exhausted: failed; a replay sends the same webhook-id once more' => sub {
    my $rcv = receiver($t);
    $rcv->set(default => 500);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    my $m = mark($t);
    client($t, $ae, 'Esuat SRL');
    my ($ev) = events_after($t, $m, "type = 'client.created'");
    my $id = $ev->{event_id} // 'none';
    my $d = wait_delivery($t, $e, $id, sub { ($_[0]{status} // '') eq 'failed' }, 10);
    is($d->{status}, 'failed', 'failed after the last wait of sales_webhook_retry');
    is($d->{attempt_count}, 4, 'four attempts: the first and one after each of 3 waits');
    is(count_of($rcv, '/hook', $id), 4, 'the receiver saw four');
    is($d->{last_response_status}, 500, 'last_response_status 500');
    my $q0 = (hooks($rcv, '/hook'))[0] || {};
    my $ts0 = $q0->{headers}{'webhook-timestamp'} // 0;

    $rcv->set(default => 200);
    my $r = call(POST => "/webhooks/deliveries/$d->{id}/replay", $adm);
    is($r->{status}, 202, 'replay 202') or diag($r->{content});
    ok(poll(sub { count_of($rcv, '/hook', $id) >= 5 }, 10), 'the receiver gets the same webhook-id again');
    my $q = (grep { wid($_) eq $id } hooks($rcv, '/hook'))[-1] || {};
    ok(WebhookReceiver::verify($q, $e->{secret}), 'signed');
    cmp_ok($q->{headers}{'webhook-timestamp'} // 0, '>=', $ts0, 'signed anew');
    my $d2 = wait_delivery($t, $e, $id, sub { @{ attempts($_[0]) } >= 5 }, 10);
    is(scalar @{ attempts($d2) }, 5, 'one more attempt recorded');
    ok((attempts($d2)->[-1] || {})->{replay}, 'attempts[-1].replay true');
    ok(!grep({ $_->{replay} } @{ attempts($d2) }[0 .. 3]), 'the first four were not replays');
    is((attempts($d2)->[-1] || {})->{response_status}, 200, 'answered 200');
    is($d2->{status}, 'succeeded', 'the delivery is succeeded now');
    sleep 1.2;
    is(count_of($rcv, '/hook', $id), 5, 'a replay is one attempt');

    $r = call(POST => "/webhooks/endpoints/$e->{id}/replay", $adm, { event_id => $id });
    is($r->{status}, 202, 'replay of the event on the endpoint 202') or diag($r->{content});
    is(($r->{json} || {})->{replayed}, 1, 'replayed 1');
    ok(poll(sub { count_of($rcv, '/hook', $id) >= 6 }, 10), 'and it arrives once more');
    drop($t, $e);
};

case 'a replay of a delivery still pending makes it due now and keeps its retries' => sub {
    my $rcv = receiver($t);
    $rcv->set(default => 500);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    my $m = mark($t);
    client($t, $ae, 'Grabit SRL');
    client($t, $ae, 'Grabit Iar SRL');
    my ($ev, $ev2) = events_after($t, $m, "type = 'client.created'");
    my ($id, $id2) = ($ev->{event_id} // 'none', $ev2->{event_id} // 'none');
    my $d = wait_delivery($t, $e, $id, sub { ($_[0]{attempt_count} // 0) >= 1 }, 5);
    is($d->{status}, 'pending', 'after its first failure the delivery is pending');
    my $r = call(POST => "/webhooks/deliveries/$d->{id}/replay", $adm);
    is($r->{status}, 202, 'replay 202') or diag($r->{content});
    $d = wait_delivery($t, $e, $id, sub { ($_[0]{attempt_count} // 0) >= 2 }, 5);
    ok((attempts($d)->[1] || {})->{replay}, 'at once one more attempt, a replay');
    is($d->{status}, 'pending', 'it failed too, and the delivery is still pending') or diag($J->encode($d));
    $d = wait_delivery($t, $e, $id, sub { ($_[0]{status} // '') eq 'failed' }, 10);
    is($d->{attempt_count}, 4, 'failed only after its retries: four attempts, the replay among them');
    is(count_of($rcv, '/hook', $id), 4, 'the receiver saw four');

    my $d2 = wait_delivery($t, $e, $id2, sub { ($_[0]{attempt_count} // 0) >= 1 }, 5);
    $r = call(POST => "/webhooks/endpoints/$e->{id}/replay", $adm, { event_id => $id2 });
    is(($r->{json} || {})->{replayed}, 1, 'the same by event_id on the endpoint: replayed 1') or diag($r->{content});
    $d2 = wait_delivery($t, $e, $id2, sub { ($_[0]{attempt_count} // 0) >= 2 }, 5);
    is($d2->{status}, 'pending', 'still pending after the replayed attempt failed');
    drop($t, $e);
};

case 'a rotated secret: both signatures during the grace, one after it' => sub {
    my $rcv = receiver($t);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    my $old = $e->{secret};
    my $rot = must(call(POST => "/webhooks/endpoints/$e->{id}/rotate-secret", $adm, { grace_seconds => 3600 }), 200, 'rotate');
    my $new = $rot->{secret} // '';
    my $m = mark($t);
    client($t, $ae, 'Rotit SRL');
    my ($ev) = events_after($t, $m, "type = 'client.created'");
    ok(wait_ids($rcv, '/hook', [$ev->{event_id} // 'none'], 10), 'delivered');
    my $q = (hooks($rcv, '/hook'))[0] || {};
    my @sig = WebhookReceiver::signatures($q);
    is(scalar @sig, 2, 'two v1 signatures') or diag($q->{headers}{'webhook-signature'} // 'none');
    my @want = map { WebhookReceiver::sign($_, wid($q), $q->{headers}{'webhook-timestamp'} // '', $q->{body} // '') } $new, $old;
    is_deeply(\@sig, \@want, '"v1,<new> v1,<old>"');
    ok(WebhookReceiver::verify($q, $new), 'verifies with the new secret');
    ok(WebhookReceiver::verify($q, $old), 'and with the old one');

    my $rot2 = must(call(POST => "/webhooks/endpoints/$e->{id}/rotate-secret", $adm, { grace_seconds => 0 }), 200, 'rotate, no grace');
    sleep 1.1;
    $m = mark($t);
    client($t, $ae, 'Rotit Iar SRL');
    ($ev) = events_after($t, $m, "type = 'client.created'");
    ok(wait_ids($rcv, '/hook', [$ev->{event_id} // 'none'], 10), 'delivered');
    $q = (grep { wid($_) eq ($ev->{event_id} // '') } hooks($rcv, '/hook'))[0] || {};
    is(scalar(WebhookReceiver::signatures($q)), 1, 'no grace: one signature');
    ok(WebhookReceiver::verify($q, $rot2->{secret}), 'with the newest secret');
    ok(!WebhookReceiver::verify($q, $new) && !WebhookReceiver::verify($q, $old), 'not with the earlier ones');
    drop($t, $e);
};

case '410 disables the endpoint; its events wait; enabling it sends them' => sub {
    my $rcv = receiver($t);
    $rcv->set(statuses => [410], default => 200);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.*']);
    my $c = client($t, $ae, 'Disparut SRL');
    my $g = poll(sub { my $x = endpoint_get($t, $e->{id}); defined $x->{enabled} && !$x->{enabled} ? $x : undef }, 10) || {};
    ok(defined $g->{enabled} && !$g->{enabled}, 'disabled after the 410');
    is($g->{disabled_reason}, 'gone', 'disabled_reason gone');
    like($g->{disabled_at} // '', $ISO, 'disabled_at');
    my $m = mark($t);
    must(call(PATCH => "/clients/$c->{id}", $ae, { city => "Oras $_" }), 200, "update $_") for 1 .. 2;
    my @ev = events_after($t, $m);
    is(scalar @ev, 2, 'two events while disabled');
    sleep 1.2;
    is(scalar(hooks($rcv, '/hook')), 1, 'nothing is sent while disabled');
    my $r = call(PATCH => "/webhooks/endpoints/$e->{id}", $adm, { enabled => $T });
    is($r->{status}, 200, 'enable 200') or diag($r->{content});
    ok(($r->{json} || {})->{enabled}, 'enabled');
    ok(!defined(($r->{json} || {})->{disabled_reason}), 'disabled_reason null');
    ok(wait_ids($rcv, '/hook', [map { $_->{event_id} } @ev], 10), 'the waiting events arrive');
    my @order = grep { my $x = $_; grep { $_->{event_id} eq $x } @ev } first_seen($rcv, '/hook');
    is_deeply(\@order, [map { $_->{event_id} } @ev], 'in order');
    drop($t, $e);
};

case '429 with Retry-After: 2 waits 2 s, not the 1 s of the retry list' => sub {
    my $rcv = receiver($t);
    $rcv->set(statuses => [429], default => 200, headers => { 'Retry-After' => '2' });
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    my $m = mark($t);
    client($t, $ae, 'Rabdare SRL');
    my ($ev) = events_after($t, $m, "type = 'client.created'");
    my $id = $ev->{event_id} // 'none';
    ok(poll(sub { count_of($rcv, '/hook', $id) >= 2 }, 10), 'retried');
    my @q = grep { wid($_) eq $id } hooks($rcv, '/hook');
    my $gap = ($q[1] || {})->{time} - ($q[0] || {})->{time};
    cmp_ok($gap, '>=', 1.75, sprintf('the next attempt %.2f s later, as Retry-After said', $gap));
    cmp_ok($gap, '<', 5, 'and not much later');
    my $d = wait_delivery($t, $e, $id, sub { ($_[0]{status} // '') eq 'succeeded' }, 10);
    is((attempts($d)->[0] || {})->{response_status}, 429, 'the first attempt: 429');
    is($d->{status}, 'succeeded', 'then succeeded');
    drop($t, $e);
};

case 'a 302 is a failed attempt and its Location is never requested' => sub {
    my $rcv = receiver($t);
    $rcv->set(default => 302, location => $rcv->url('/moved'));
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    my $m = mark($t);
    client($t, $ae, 'Mutat SRL');
    my ($ev) = events_after($t, $m, "type = 'client.created'");
    my $d = wait_delivery($t, $e, $ev->{event_id} // 'none', sub { @{ attempts($_[0]) } >= 2 }, 8);
    cmp_ok(scalar @{ attempts($d) }, '>=', 2, 'retried: the 302 counted as a failure');
    is((attempts($d)->[0] || {})->{response_status}, 302, 'attempt answered 302');
    isnt($d->{status}, 'succeeded', 'not succeeded');
    is($d->{last_response_status}, 302, 'last_response_status 302');
    drop($t, $e);
    sleep 0.2;
    my @other = grep { $_->{path} ne '/hook' } hooks($rcv);
    is(scalar @other, 0, 'the Location was never requested') or diag(join ' ', map { $_->{path} } @other);
};

case 'interim answers (103 Early Hints, 100 Continue) are passed over for the final one' => sub {
    my $rcv = receiver($t);
    $rcv->set(raw => "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                   . "HTTP/1.1 100 Continue\r\n\r\n"
                   . "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nConnection: close\r\n\r\naccepted");
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    my $m = mark($t);
    client($t, $ae, 'Indiciu SRL');
    my ($ev) = events_after($t, $m, "type = 'client.created'");
    my $d = wait_delivery($t, $e, $ev->{event_id} // 'none', sub { @{ attempts($_[0]) } >= 1 }, 8);
    my $a0 = attempts($d)->[0] || {};
    is($a0->{response_status}, 200, 'the attempt is answered 200, not 103') or diag($J->encode($d));
    is($a0->{response_excerpt}, 'accepted', "the final answer's body is the excerpt");
    is($d->{status}, 'succeeded', 'succeeded');
    is($d->{attempt_count}, 1, 'in one attempt');
    drop($t, $e);
};

case 'a chunked answer on a kept-alive connection ends at its last chunk, not at the timeout' => sub {
    my $rcv = receiver($t);
    $rcv->set(raw_parts => ["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                            . "Connection: keep-alive\r\n\r\n4\r\nWiki\r\n",
                            "5\r\npedia\r\n", "0\r\n\r\n"],
              pause => 0.2, hold => 8);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    my $m = mark($t);
    client($t, $ae, 'Bucati SRL');
    my ($ev) = events_after($t, $m, "type = 'client.created'");
    my $d = wait_delivery($t, $e, $ev->{event_id} // 'none', sub { @{ attempts($_[0]) } >= 1 }, 8);
    my $a0 = attempts($d)->[0] || {};
    is($a0->{response_status}, 200, 'answered 200') or diag($J->encode($d));
    is($a0->{response_excerpt}, 'Wikipedia', 'the excerpt is the data, without the chunk sizes');
    cmp_ok($a0->{latency_ms} // 1e9, '<', 2000, "over once the last chunk came ($a0->{latency_ms} ms), not after the 3 s timeout");
    is($d->{status}, 'succeeded', 'succeeded');

    $rcv->set(raw => "HTTP/1.1 202 Accepted\r\nConnection: keep-alive\r\n\r\nqueued", hold => 8);
    $m = mark($t);
    client($t, $ae, 'Deschis SRL');
    ($ev) = events_after($t, $m, "type = 'client.created'");
    $d = wait_delivery($t, $e, $ev->{event_id} // 'none', sub { @{ attempts($_[0]) } >= 1 }, 8);
    $a0 = attempts($d)->[0] || {};
    is($a0->{response_status}, 202, 'kept alive without a length: answered 202') or diag($J->encode($d));
    cmp_ok($a0->{latency_ms} // 1e9, '<', 2000, "over with the headers ($a0->{latency_ms} ms)");
    is($a0->{response_excerpt}, 'queued', 'its excerpt is what came with them');
    drop($t, $e);
};

case 'no answer within sales_webhook_timeout is a failed attempt' => sub {
    my $rcv = receiver($t);
    $rcv->set(default => 200, delay => 6);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    my $m = mark($t);
    client($t, $ae, 'Tacut SRL');
    my ($ev) = events_after($t, $m, "type = 'client.created'");
    my $d = wait_delivery($t, $e, $ev->{event_id} // 'none', sub { @{ attempts($_[0]) } >= 1 }, 8);
    my $a0 = attempts($d)->[0] || {};
    ok(!defined $a0->{response_status} && length($a0->{error} // ''), 'the attempt failed with an error') or diag($J->encode($d));
    cmp_ok($a0->{latency_ms} // 0, '>=', 2500, 'after about 3 s');
    cmp_ok($a0->{latency_ms} // 1e9, '<', 5500, 'not after the receiver answered');
    isnt($d->{status}, 'succeeded', 'not succeeded');
    drop($t, $e);
};

case 'inward destinations outside sales_webhook_allow are refused at connect time' => sub {
    my $rcv = receiver($t);
    my @urls = ('http://169.254.169.254/x', 'http://10.1.2.3/x', 'http://0.0.0.0:' . $rcv->port . '/x',
                'http://[::ffff:169.254.169.254]/x');
    my @eps = map { endpoint($t, url => $_, events => ['client.created']) } @urls;
    my $m = mark($t);
    client($t, $ae, 'Intern SRL');
    my ($ev) = events_after($t, $m, "type = 'client.created'");
    for my $i (0 .. $#eps) {
        my $d = wait_delivery($t, $eps[$i], $ev->{event_id} // 'none', sub { @{ attempts($_[0]) } >= 1 }, 8);
        my $a0 = attempts($d)->[0] || {};
        like($a0->{error} // '', qr/not allowed/i, "$urls[$i]: the attempt records \"not allowed\"") or diag($J->encode($d));
        ok(!defined $a0->{response_status}, "$urls[$i]: no answer");
        isnt($d->{status}, 'succeeded', "$urls[$i]: not delivered");
    }
    drop($t, @eps);
    sleep 0.2;
    is(scalar(hooks($rcv)), 0, 'no connection reached the receiver through 0.0.0.0');
};

case 'a database that keeps failing: the cycles back off, and the results are recorded once it works' => sub {
    my $rcv = receiver($t);
    $rcv->set(delay => 1);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    my $m = mark($t);
    client($t, $ae, 'Blocat SRL');
    my ($ev) = events_after($t, $m, "type = 'client.created'");
    my $id = $ev->{event_id} // 'none';
    ok(poll(sub { count_of($rcv, '/hook', $id) }, 5), 'the attempt is under way');
    my $log = "$t->{dir}/error.log";
    my $from = -s $log;
    $t->sql("CREATE TRIGGER test_broken BEFORE INSERT ON webhook_attempts"
            . " BEGIN SELECT RAISE(ABORT, 'broken for the test'); END");
    sleep 3;
    my $text = SalesTest::read_file($log);
    my $n = () = substr($text, $from) =~ /cannot be recorded or claimed now.*broken for the test/g;
    cmp_ok($n, '>=', 1, 'the failing cycle is logged');
    cmp_ok($n, '<=', 10, "and backs off: $n failed cycles in 3 s, not one a millisecond");
    $t->sql('DROP TRIGGER test_broken');
    my $d = wait_delivery($t, $e, $id, sub { ($_[0]{status} // '') eq 'succeeded' }, 10);
    is($d->{status}, 'succeeded', 'the kept result is recorded once the database works');
    is($d->{attempt_count}, 1, 'as the one attempt it was');
    drop($t, $e);
};

case 'ping: webhook.ping to this endpoint alone, also when disabled' => sub {
    my $rcv = receiver($t);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    my $other = endpoint($t, url => $rcv->url('/other'), events => ['*']);
    my $r = call(POST => "/webhooks/endpoints/$e->{id}/ping", $adm);
    is($r->{status}, 202, 'ping 202') or diag($r->{content});
    my $did = ping_delivery($r->{json});
    ok($did, 'the answer names the delivery');
    my $q = poll(sub { (grep { (body($_)->{type} // '') eq 'webhook.ping' } hooks($rcv, '/hook'))[0] }, 10) || {};
    is(body($q)->{type}, 'webhook.ping', 'the receiver gets webhook.ping');
    is((body($q)->{data} || {})->{endpoint_id}, $e->{id}, 'data.endpoint_id');
    ok(WebhookReceiver::verify($q, $e->{secret}), 'signed');
    my $d = poll(sub { my $x = call(GET => "/webhooks/deliveries/$did", $adm)->{json}; ref $x eq 'HASH' && ($x->{status} // '') eq 'succeeded' ? $x : undef }, 10) || {};
    is($d->{event_type}, 'webhook.ping', 'the delivery is of webhook.ping');
    is($d->{event_id}, wid($q), 'its event_id is the webhook-id');
    is($d->{attempt_count}, 1, 'one attempt');

    must(call(PATCH => "/webhooks/endpoints/$e->{id}", $adm, { enabled => $F }), 200, 'disable');
    $r = call(POST => "/webhooks/endpoints/$e->{id}/ping", $adm);
    is($r->{status}, 202, 'ping a disabled endpoint 202') or diag($r->{content});
    ok(poll(sub { (grep { (body($_)->{type} // '') eq 'webhook.ping' } hooks($rcv, '/hook')) >= 2 }, 10), 'it arrives too');
    ok(!endpoint_get($t, $e->{id})->{enabled}, 'the endpoint stays disabled');
    sleep 0.3;
    is(scalar(grep { (body($_)->{type} // '') eq 'webhook.ping' } hooks($rcv, '/other')), 0, 'no ping to other endpoints');
    drop($t, $e, $other);
};

case 'nginx -s reload in the middle of 50 deliveries loses none' => sub {
    my $rcv = receiver($t);
    $rcv->set(delay => 0.5);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    my $m = mark($t);
    client($t, $ae, "Reincarcat $_ SRL") for 1 .. 40;
    ok(poll(sub { scalar hooks($rcv, '/hook') }, 5), 'deliveries under way');
    my $before = scalar hooks($rcv, '/hook');
    $t->reload;
    client($t, $ae, "Reincarcat $_ SRL") for 41 .. 50;
    my @ids = map { $_->{event_id} } events_after($t, $m, "type = 'client.created'");
    is(scalar @ids, 50, '50 events');
    ok(wait_ids($rcv, '/hook', \@ids, 25), 'every event arrives at least once');
    ok(poll(sub { (endpoint_get($t, $e->{id})->{pending} // -1) == 0 }, 10), 'nothing left pending');
    my %n;
    $n{ wid($_) }++ for hooks($rcv, '/hook');
    my $dups = 0;
    $dups += $_ - 1 for grep { $_ > 1 } map { $n{$_} // 0 } @ids;
    diag("reload: $before requests had arrived before it; $dups duplicate deliveries across it");
    drop($t, $e);
};

case 'a restart with deliveries waiting for a receiver that is down loses none' => sub {
    my $rcv = receiver($t);
    my ($port, $dir) = ($rcv->port, $rcv->dir);
    my $e = endpoint($t, url => $rcv->url('/hook'), events => ['client.created']);
    $rcv->stop;
    my $m = mark($t);
    client($t, $ae, "Repornit $_ SRL") for 1 .. 10;
    my @ids = map { $_->{event_id} } events_after($t, $m, "type = 'client.created'");
    is(scalar @ids, 10, '10 events');
    ok(poll(sub { (delivery($t, $e, $ids[0])->{attempt_count} // 0) >= 1 }, 5), 'attempted while the receiver is down');
    $t->stop;
    $t->start;
    my $back = WebhookReceiver->new(dir => $dir, port => $port);
    ok(wait_ids($back, '/hook', \@ids, 15), 'after the restart every event arrives');
    ok(poll(sub { (endpoint_get($t, $e->{id})->{pending} // -1) == 0 }, 10), 'nothing left pending');
    $back->stop;
    drop($t, $e);
};

$t->stop;

# --- disabling an endpoint that keeps failing -------------------------------------------------------------------
case 'an endpoint failing for sales_webhook_disable_after is disabled and the others are told' => sub {
    my $t2 = SalesTest->new(workers => 2, http_extra => join "\n    ",
        'sales_webhook_allow 127.0.0.0/8 ::1/128;', 'sales_webhook_poll 100ms;',
        'sales_webhook_retry 1s 1s 1s 1s 1s 1s;', 'sales_webhook_timeout 3s;',
        'sales_webhook_disable_after 2s;');
    my $u = $t2->user('ae');
    my $good = receiver($t2);
    my $bad  = receiver($t2);
    $bad->set(default => 500);
    my $h = endpoint($t2, url => $good->url('/hook'), events => ['*']);
    my $f = endpoint($t2, url => $bad->url('/hook'), events => ['client.*']);
    client($t2, $u, 'Cazut SRL');
    my $fs;
    my $g = poll(sub {
        my $x = endpoint_get($t2, $f->{id});
        $fs //= $x->{failing_since};
        defined $x->{enabled} && !$x->{enabled} ? $x : undef;
    }, 12) || {};
    like($fs // '', $ISO, 'failing_since shows while it fails');
    ok(defined $g->{enabled} && !$g->{enabled}, 'disabled');
    is($g->{disabled_reason}, 'failing', 'disabled_reason failing');
    like($g->{disabled_at} // '', $ISO, 'disabled_at');
    cmp_ok(scalar(hooks($bad, '/hook')), '>=', 3, 'after failing for 2 s (three attempts at least)');
    my $q = poll(sub { (grep { (body($_)->{type} // '') eq 'webhook.endpoint_disabled' } hooks($good, '/hook'))[0] }, 10) || {};
    is(body($q)->{type}, 'webhook.endpoint_disabled', 'the healthy endpoint gets webhook.endpoint_disabled');
    is(named_endpoint(body($q)->{data}), $f->{id}, 'naming the disabled endpoint') or diag($q->{body} // '');
    ok(WebhookReceiver::verify($q, $h->{secret}), 'signed');
    my $n = scalar hooks($bad, '/hook');
    sleep 1.5;
    is(scalar(hooks($bad, '/hook')), $n, 'nothing more is sent to the disabled endpoint');
    ok(!grep({ (body($_)->{type} // '') eq 'webhook.endpoint_disabled' } hooks($bad, '/hook')), 'it is not told itself');
    drop($t2, $h, $f);
    $good->stop;
    $bad->stop;
    $t2->stop;
};

# --- worker_shutdown_timeout -----------------------------------------------------------------------------------
case 'a worker leaving at worker_shutdown_timeout gives an unanswered attempt back' => sub {
    my $t4 = SalesTest->new(workers => 1, main_extra => 'worker_shutdown_timeout 1s;', http_extra => join "\n    ",
        'sales_webhook_allow 127.0.0.0/8 ::1/128;', 'sales_webhook_poll 100ms;',
        'sales_webhook_retry 1s 1s 2s;', 'sales_webhook_timeout 20s;');
    my $u = $t4->user('ae');
    my $rcv = receiver($t4);
    $rcv->set(delay => 10);
    my $e = endpoint($t4, url => $rcv->url('/hook'), events => ['client.created']);
    my $m = mark($t4);
    client($t4, $u, 'Plecat SRL');
    my ($ev) = events_after($t4, $m, "type = 'client.created'");
    my $id = $ev->{event_id} // 'none';
    ok(poll(sub { count_of($rcv, '/hook', $id) }, 5), 'the attempt is under way; the receiver takes 10 s');
    $rcv->set(default => 200);
    my $at = time;
    $t4->reload;
    ok(poll(sub { count_of($rcv, '/hook', $id) >= 2 }, 6), 'a new worker sends it again soon after the reload');
    my $q = (grep { wid($_) eq $id } hooks($rcv, '/hook'))[1] || {};
    cmp_ok(($q->{time} // 1e12) - $at, '<', 5, 'not after the 10 s the old worker would have waited');
    my $d = wait_delivery($t4, $e, $id, sub { ($_[0]{status} // '') eq 'succeeded' }, 10);
    is($d->{status}, 'succeeded', 'succeeded');
    is($d->{attempt_count}, 1, 'the attempt given back is not counted as one');
    drop($t4, $e);
    $rcv->stop;
    $t4->stop;
};

# --- a worker short of connections --------------------------------------------------------------------------
case 'a worker out of worker_connections gives attempts back instead of failing them' => sub {
    my $t5 = SalesTest->new(workers => 1, connections => 16, log_ok => qr/worker_connections are not enough/,
        http_extra => join "\n    ", 'sales_webhook_allow 127.0.0.0/8 ::1/128;', 'sales_webhook_poll 100ms;',
        'sales_webhook_retry 1s 1s 2s;', 'sales_webhook_timeout 5s;');
    my $u = $t5->user('ae');
    my $rcv = receiver($t5);
    $rcv->set(delay => 1);
    my $e = endpoint($t5, url => $rcv->url('/hook'), events => ['client.created'], enabled => $F);
    my $m = mark($t5);
    client($t5, $u, "Aglomerat $_ SRL") for 1 .. 30;
    my @ids = map { $_->{event_id} } events_after($t5, $m, "type = 'client.created'");
    is(scalar @ids, 30, '30 events wait for the disabled endpoint');
    must(api($t5, PATCH => "/webhooks/endpoints/$e->{id}", $t5->{admin}, { enabled => $T }), 200, 'enable it');
    # no API calls while the worker has no connection to spare
    ok(wait_ids($rcv, '/hook', \@ids, 20), 'all 30 arrive, more than the worker can connect at once');
    ok(poll(sub { ($t5->sql("select count(*) from webhook_deliveries where endpoint_id = $e->{id}"
                            . " and status = 'succeeded'") // 0) == 30 }, 10), 'all 30 succeeded');
    is($t5->sql('select count(*) from webhook_attempts where error is not null'), 0,
       'no attempt failed: none was recorded against the receiver');
    is($t5->sql("select max(attempt_count) from webhook_deliveries where endpoint_id = $e->{id}"), 1,
       'each in one attempt');
    like(SalesTest::read_file("$t5->{dir}/error.log"), qr/worker_connections are not enough/,
         'the worker did run short of connections');
    drop($t5, $e);
    $rcv->stop;
    $t5->stop;
};

# --- https -------------------------------------------------------------------------------------------------------------------
# A CA and a certificate for localhost signed by it, in $d (openssl is
# installed by scripts/test).
sub make_certs {
    my $d = shift;
    SalesTest::write_file("$d/server.ext", join "\n", 'subjectAltName=DNS:localhost', 'basicConstraints=CA:FALSE',
                          'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', '');
    for my $cmd (
        [qw(openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2),
         '-keyout', "$d/ca.key", '-out', "$d/ca.pem", '-subj', '/CN=Sales Test CA',
         '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
        [qw(openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes),
         '-keyout', "$d/server.key", '-out', "$d/server.csr", '-subj', '/CN=localhost'],
        [qw(openssl x509 -req -days 2), '-in', "$d/server.csr", '-CA', "$d/ca.pem", '-CAkey', "$d/ca.key",
         '-CAserial', "$d/ca.srl", '-CAcreateserial', '-out', "$d/server.pem", '-extfile', "$d/server.ext"],
    ) {
        my ($rc, $out) = SalesTest::run_cmd($cmd, merge => 1);
        die "@$cmd failed ($rc): $out\n" if $rc;
    }
}

case 'https: the certificate and the host name are verified' => sub {
    my $t3 = SalesTest->new(workers => 2, no_start => 1);
    my $d = $t3->{dir};
    make_certs($d);
    my $rcv = receiver($t3);
    my $sslport = SalesTest::free_port();
    my $rport = $rcv->port;
    $t3->{http_extra} = join "\n    ", @BASE, "sales_webhook_trusted_certificate $d/ca.pem;",
        "server {
        listen 127.0.0.1:$sslport ssl;
        server_name localhost;
        ssl_certificate $d/server.pem;
        ssl_certificate_key $d/server.key;
        location / { proxy_pass http://127.0.0.1:$rport; }
    }";
    SalesTest::write_file("$d/nginx.conf", $t3->conf);
    $t3->start;
    my $u = $t3->user('ae');
    my $ok  = endpoint($t3, url => "https://localhost:$sslport/hook-ok", events => ['client.created']);
    my $bad = endpoint($t3, url => "https://127.0.0.1:$sslport/hook-bad", events => ['client.created']);
    my $m = mark($t3);
    client($t3, $u, 'Securizat SRL');
    my ($ev) = events_after($t3, $m, "type = 'client.created'");
    my $id = $ev->{event_id} // 'none';
    ok(wait_ids($rcv, '/hook-ok', [$id], 10), 'https://localhost: delivered through TLS');
    my $q = (grep { wid($_) eq $id } hooks($rcv, '/hook-ok'))[0] || {};
    ok(WebhookReceiver::verify($q, $ok->{secret}), 'signed');
    is(body($q)->{type}, 'client.created', 'the event');
    my $dl = wait_delivery($t3, $ok, $id, sub { ($_[0]{status} // '') eq 'succeeded' }, 10);
    is($dl->{status}, 'succeeded', 'succeeded');
    my $db = wait_delivery($t3, $bad, $id, sub { @{ attempts($_[0]) } >= 1 }, 10);
    my $a0 = attempts($db)->[0] || {};
    like($a0->{error} // '', qr/certificate|host/i, 'https://127.0.0.1 (not in the certificate): refused, the error says why')
        or diag($J->encode($db));
    ok(!defined $a0->{response_status}, 'no answer');
    isnt($db->{status}, 'succeeded', 'not delivered');
    is(scalar(hooks($rcv, '/hook-bad')), 0, 'nothing went through');
    drop($t3, $ok, $bad);
    $rcv->stop;
    $t3->stop;
};

case 'https: a failed TLS handshake records OpenSSL\'s reason, a silent one the timeout' => sub {
    my $t6 = SalesTest->new(workers => 1, http_extra => join "\n    ", @BASE);
    my $u = $t6->user('ae');
    my $plain = receiver($t6);
    $plain->set(early => 1, raw => "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    my $silent = receiver($t6);
    $silent->set(early => 1, raw => '', delay => 6);
    my $p = endpoint($t6, url => 'https://127.0.0.1:' . $plain->port . '/hook', events => ['client.created']);
    my $s = endpoint($t6, url => 'https://localhost:' . $silent->port . '/hook', events => ['client.created']);
    my $m = mark($t6);
    client($t6, $u, 'Necriptat SRL');
    my ($ev) = events_after($t6, $m, "type = 'client.created'");
    my $d = wait_delivery($t6, $p, $ev->{event_id} // 'none', sub { @{ attempts($_[0]) } >= 1 }, 8);
    like((attempts($d)->[0] || {})->{error} // '', qr/^the TLS handshake failed: error:[0-9A-F]+:SSL routines:.*wrong version number/,
         'plain HTTP where TLS was expected: the handshake failed, and OpenSSL says why') or diag($J->encode($d));
    $d = wait_delivery($t6, $s, $ev->{event_id} // 'none', sub { @{ attempts($_[0]) } >= 1 }, 8);
    is((attempts($d)->[0] || {})->{error}, 'timed out in the TLS handshake', 'no answer to the handshake: timed out in it')
        or diag($J->encode($d));
    drop($t6, $p, $s);
    $plain->stop;
    $silent->stop;
    $t6->stop;
};

done_testing;
