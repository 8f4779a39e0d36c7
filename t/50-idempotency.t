use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;

my $t   = SalesTest->new;
my $adm = $t->{admin};
my $a   = $t->user('ae');
my $b   = $t->user('ae');

sub named { $t->sql("select count(*) from clients where name = '$_[0]'") }
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        'select count(*) from clients', 'select coalesce(sum(version),0) from clients',
        'select count(*) from contacts', 'select count(*) from audit_log', $SalesTest::OUTBOX_COUNT;
}
sub key { { 'Idempotency-Key' => $_[0] } }
sub replayed { lc($_[0]{headers}{'idempotent-replayed'} // '') eq 'true' }

unlike(snapshot(), qr/ERR/, 'tables readable');

# --- replay -------------------------------------------------------------------
my $body = { name => 'Idem SRL', city => 'Iasi' };
my $r1 = $t->api(POST => '/clients', $a->{token}, $body, key('7d1c2a'));
is($r1->{status}, 201, 'first POST 201');
ok(!replayed($r1), 'first answer is not marked replayed');
my $snap = snapshot();
my $r2 = $t->api(POST => '/clients', $a->{token}, $body, key('7d1c2a'));
is($r2->{status}, 201, 'replay status 201');
ok(replayed($r2), 'Idempotent-Replayed: true');
is($r2->{content}, $r1->{content}, 'replay body is the first body');
is($r2->{headers}{location}, $r1->{headers}{location}, 'replay Location is the first Location');
ok(defined $r1->{headers}{location}, 'Location present');
is(named('Idem SRL'), 1, 'one row');
is(snapshot(), $snap, 'replay writes nothing (no audit, no outbox)');

# Same key, other body.
my $r = $t->api(POST => '/clients', $a->{token}, { name => 'Idem SRL', city => 'Cluj' }, key('7d1c2a'));
problem($r, 422, 'validation', 'same key, other body');
is(snapshot(), $snap, 'nothing written for a reused key');

# Scoped per caller.
$r = $t->api(POST => '/clients', $b->{token}, $body, key('7d1c2a'));
is($r->{status}, 201, 'another caller with the same key creates');
ok(!replayed($r), 'not a replay for the other caller');
isnt($r->{json}{id}, $r1->{json}{id}, 'its own client');
is($r->{json}{owner_id}, $b->{id}, 'owned by the other caller');
is(named('Idem SRL'), 2, 'two rows now');

# Scoped per path and method.
my $cid = $r1->{json}{id};
$r = $t->api(POST => "/clients/$cid/contacts", $a->{token}, { name => 'Idem Contact' }, key('7d1c2a'));
is($r->{status}, 201, 'same key on another path creates a contact');
ok(!replayed($r), 'not a replay on another path');
$r = $t->api(PATCH => "/clients/$cid", $a->{token}, { notes => 'p1' }, key('7d1c2a'));
is($r->{status}, 200, 'same key on PATCH of the client path');
ok(!replayed($r), 'not a replay on another method/path');
is($r->{json}{version}, 2, 'PATCH applied once');
$r = $t->api(PATCH => "/clients/$cid", $a->{token}, { notes => 'p1' }, key('7d1c2a'));
is($r->{status}, 200, 'PATCH replay 200');
ok(replayed($r), 'PATCH replayed');
is($r->{json}{version}, 2, 'PATCH replay shows version 2');
is($t->api(GET => "/clients/$cid", $a->{token})->{json}{version}, 2, 'PATCH not applied twice');

# Quoted form equals the bare form.
$r1 = $t->api(POST => '/clients', $a->{token}, { name => 'Quoted SRL' }, key('"abc"'));
is($r1->{status}, 201, 'quoted key POST 201');
$r2 = $t->api(POST => '/clients', $a->{token}, { name => 'Quoted SRL' }, key('abc'));
is($r2->{status}, 201, 'bare key POST 201');
ok(replayed($r2), 'bare key replays the quoted one');
is($r2->{json}{id}, $r1->{json}{id}, 'same client');
is(named('Quoted SRL'), 1, 'one row for quoted/bare');

# Only 2xx answers are stored.
$r = $t->api(POST => '/clients', $a->{token}, { name => 'Later SRL', payment_terms_days => 999 }, key('k-422'));
is($r->{status}, 422, 'invalid body 422 with a key');
$r = $t->api(POST => '/clients', $a->{token}, { name => 'Later SRL' }, key('k-422'));
is($r->{status}, 201, 'same key with a valid body after a 422 creates');
ok(!replayed($r), 'not a replay of the 422');

# Key syntax.
$snap = snapshot();
for my $bad (['a b', 'space'], ['x' x 256, '256 characters'], ['x' x 300, '300 characters'],
             ['a/b', 'slash'], ['"abc', 'unbalanced quote'], ['""', 'empty quoted'], ['ab,cd', 'comma']) {
    problem($t->api(POST => '/clients', $a->{token}, { name => 'Bad Key SRL' }, key($bad->[0])),
            400, 'malformed', "Idempotency-Key with $bad->[1]");
}
is(snapshot(), $snap, 'nothing written for bad keys');
is(named('Bad Key SRL'), 0, 'no Bad Key rows');
$r = $t->api(POST => '/clients', $a->{token}, { name => 'Long Key SRL' }, key('A-z.0_9:' . ('k' x 247)));
is($r->{status}, 201, '255-character key with every allowed symbol accepted');

# --- 100 concurrent identical POSTs ------------------------------------------------
my $cbody = { name => 'Concurrent Idem SRL', city => 'Brasov' };
my @res = $t->parallel(100, sub {
    my $r = $t->api(POST => '/clients', $a->{token}, $cbody, key('race-1'));
    return [{ status => $r->{status}, id => ($r->{json} && $r->{json}{id}),
              type => ($r->{json} && $r->{json}{type}), content => substr($r->{content} // '', 0, 300) }];
});
my @all = map { @$_ } @res;
is(scalar @all, 100, '100 answers');
my @bad = grep { $_->{status} != 201 && $_->{status} != 409 } @all;
is(scalar @bad, 0, 'every answer is 201 or 409') or diag(explain [@bad[0 .. ($#bad < 4 ? $#bad : 4)]]);
my @ok = grep { $_->{status} == 201 } @all;
ok(@ok >= 1, 'at least one 201');
note(scalar(@ok) . ' answers 201, ' . (100 - @ok) . ' answers 409');
my %ids = map { ($_->{id} // 'none') => 1 } @ok;
is(scalar keys %ids, 1, 'every 201 carries the same id');
ok(!grep({ $_->{status} == 409 && ($_->{type} // '') ne 'urn:sales:problem:conflict' } @all), '409s are conflict problems');
is(named('Concurrent Idem SRL'), 1, 'exactly one client row');
$r = $t->api(POST => '/clients', $a->{token}, $cbody, key('race-1'));
is($r->{status}, 201, 'afterwards the key replays');
ok(replayed($r), 'replayed afterwards');
is($r->{json}{id}, (keys %ids)[0], 'the same id');

$t->stop;
done_testing;
