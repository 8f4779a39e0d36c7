use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;

my $t   = SalesTest->new;
my $adm = $t->{admin};
my $J   = $SalesTest::JSON;

my $NOW = '2026-12-10T09:00:00Z';
sub at { $NOW = shift }
sub tok { ref $_[0] ? $_[0]{token} : $_[0] }
sub call {
    my ($method, $path, $who, $body) = @_;
    return $t->api($method, $path, tok($who), $body, { 'X-Sales-Test-Now' => $NOW });
}
sub ids { [sort { $a <=> $b } map { $_->{id} } @{ $_[0]{json}{items} || [] }] }
sub sorted { [sort { $a <=> $b } @_] }
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        'select count(*) from opportunities',
        'select coalesce(sum(version),0) from opportunities',
        'select count(*) from opportunity_stage_history',
        'select count(*) from activities',
        'select coalesce(sum(version),0) from activities',
        'select count(*) from audit_log',
        $SalesTest::OUTBOX_COUNT;
}
sub created {
    my ($path, $who, $body) = @_;
    my $r = call(POST => $path, $who, $body);
    is($r->{status}, 201, "POST $path " . ($body->{title} // $body->{name} // $body->{summary})) or diag($r->{content});
    return $r->{json} || {};
}
# A list the caller may filter by someone else's id: 200 without their rows, or 403/404.
sub hidden_list {
    my ($path, $who, $secret, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = call(GET => $path, $who);
    ok($r->{status} == 200 || $r->{status} == 403 || $r->{status} == 404, "$name: 200, 403 or 404")
        or diag("$r->{status} $r->{content}");
    my %s = map { $_ => 1 } @$secret;
    is_deeply($r->{status} == 200 ? [grep { $s{$_} } @{ ids($r) }] : [], [], "$name: none of the hidden rows");
    unlike($r->{content}, qr/Secret/, "$name: no hidden title in the answer");
}
sub hidden_report {
    my ($path, $who, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = call(GET => $path, $who);
    ok($r->{status} == 403 || $r->{status} == 404, "$name: 403 or 404") or diag("$r->{status} $r->{content}");
    like($r->{headers}{'content-type'} // '', qr{^application/problem\+json}, "$name: a problem answer");
    ok(!exists(($r->{json} || {})->{pipeline}) && $r->{content} !~ /CHF|Secret/, "$name: no figures leak");
}

my $m1 = $t->user('manager');
my $m2 = $t->user('manager');
my $a1 = $t->user('ae', manager_id => $m1->{id});
my $a2 = $t->user('ae', manager_id => $m1->{id});
my $b1 = $t->user('ae', manager_id => $m2->{id});
my $in = $t->user('integration');

at('2026-12-01T09:00:00Z');
my $ca1 = created('/clients', $a1, { name => 'Vis A1 SRL' });
my $ca2 = created('/clients', $a2, { name => 'Vis A2 SRL' });
my $cm1 = created('/clients', $m1, { name => 'Vis M1 SRL' });
my $cb1 = created('/clients', $b1, { name => 'Vis B1 AG', country => 'CH', currency => 'CHF' });
my $oa1 = created('/opportunities', $a1, { client_id => $ca1->{id}, title => 'A1 deal', value_minor => 100, expected_close => '2026-12-20' });
my $oa2 = created('/opportunities', $a2, { client_id => $ca2->{id}, title => 'A2 Secret deal', value_minor => 200, expected_close => '2026-12-21' });
my $om1 = created('/opportunities', $m1, { client_id => $cm1->{id}, title => 'M1 deal', value_minor => 300, expected_close => '2026-12-22' });
my $ob1 = created('/opportunities', $b1, { client_id => $cb1->{id}, title => 'B1 Secret deal', value_minor => 400, expected_close => '2026-12-23' });
my $ob2 = created('/opportunities', $b1, { client_id => $cb1->{id}, title => 'B1 Secret won', value_minor => 500, expected_close => '2026-12-05' });
at('2026-12-02T09:00:00Z');
is(call(PATCH => "/opportunities/$ob2->{id}", $b1, { stage => 'won' })->{status}, 200, 'B1 wins a deal');
my $xa1 = created('/activities', $a1, { type => 'call', client_id => $ca1->{id}, opportunity_id => $oa1->{id}, summary => 'A1 call' });
my $xa2 = created('/activities', $a2, { type => 'call', client_id => $ca2->{id}, summary => 'A2 Secret call' });
my $xb1 = created('/activities', $b1, { type => 'meeting', client_id => $cb1->{id}, opportunity_id => $ob1->{id}, summary => 'B1 Secret meeting' });
at('2026-12-10T09:00:00Z');

unlike(snapshot(), qr/ERR/, 'tables readable');
my @all_opps = map { $_->{id} } $oa1, $oa2, $om1, $ob1, $ob2;
my @all_acts = map { $_->{id} } $xa1, $xa2, $xb1;

# --- an AE sees only their own --------------------------------------------------------------
my $snap = snapshot();
for my $case ([B1 => $ob1, $cb1, $xb1, $b1], [A2 => $oa2, $ca2, $xa2, $a2]) {
    my ($n, $o, $c, $x, $u) = @$case;
    problem(call(GET => "/opportunities/$o->{id}", $a1), 404, 'not-found', "A1 GET $n deal");
    problem(call(PATCH => "/opportunities/$o->{id}", $a1, { title => 'Mine now' }), 404, 'not-found', "A1 PATCH $n deal");
    problem(call(PATCH => "/opportunities/$o->{id}", $a1, { stage => 'proposal' }), 404, 'not-found', "A1 moves $n deal");
    problem(call(PATCH => "/opportunities/$o->{id}", $a1, { owner_id => $a1->{id} }), 404, 'not-found', "A1 takes $n deal");
    problem(call(GET => "/opportunities/$o->{id}/history", $a1), 404, 'not-found', "A1 history of $n deal");
    problem(call(GET => "/clients/$c->{id}/history", $a1), 404, 'not-found', "A1 history of $n client");
    problem(call(GET => "/activities/$x->{id}", $a1), 404, 'not-found', "A1 GET $n activity");
    problem(call(PATCH => "/activities/$x->{id}", $a1, { summary => 'x' }), 404, 'not-found', "A1 PATCH $n activity");
    problem(call(DELETE => "/activities/$x->{id}", $a1), 404, 'not-found', "A1 DELETE $n activity");
    hidden_list("/opportunities?owner=$u->{id}", $a1, [$o->{id}], "A1 lists $n deals by owner");
    hidden_list("/opportunities?client_id=$c->{id}", $a1, [$o->{id}], "A1 lists $n deals by client");
    hidden_list("/activities?client_id=$c->{id}", $a1, [$x->{id}], "A1 lists $n client activities");
    hidden_list("/activities?opportunity_id=$o->{id}", $a1, [$x->{id}], "A1 lists $n deal activities");
    hidden_list("/activities?user_id=$u->{id}", $a1, [$x->{id}], "A1 lists $n user activities");
    hidden_report("/reports/pipeline?owner=$u->{id}", $a1, "A1 report of $n");
    for my $bad ([{ client_id => $c->{id}, title => 'Spy', expected_close => '2026-12-31' }, '#/client_id', '/opportunities'],
                 [{ type => 'note', client_id => $c->{id}, summary => 'Spy' }, '#/client_id', '/activities'],
                 [{ type => 'note', client_id => $ca1->{id}, opportunity_id => $o->{id}, summary => 'Spy' }, '#/opportunity_id', '/activities']) {
        my $r = call(POST => $bad->[2], $a1, $bad->[0]);
        problem($r, 422, 'validation', "A1 POST $bad->[2] naming $n $bad->[1]");
        is_deeply(pointers($r), [$bad->[1]], "pointer $bad->[1]");
    }
}
is(snapshot(), $snap, 'nothing written by A1 on others\' records');
is_deeply(ids(call(GET => '/opportunities?limit=200', $a1)), [$oa1->{id}], 'A1 lists only own deals');
is_deeply(ids(call(GET => '/opportunities?status=closed', $a1)), [], 'A1 status=closed: none of B1\'s');
is_deeply(ids(call(GET => '/opportunities?closing=this_month', $a1)), [$oa1->{id}], 'A1 closing=this_month: own only');
is_deeply(ids(call(GET => '/opportunities?q=secret', $a1)), [], 'A1 q=secret finds nothing');
is_deeply(ids(call(GET => '/opportunities?stale=1&stage=qualified&value_min=0', $a1)), [$oa1->{id}], 'A1 filters stay own');
is_deeply(ids(call(GET => '/activities?limit=200', $a1)), [$xa1->{id}], 'A1 lists only activities of own clients');
{
    my $r = call(GET => '/reports/pipeline', $a1);
    is($r->{status}, 200, 'A1 own report');
    unlike($r->{content}, qr/CHF|Secret/, 'A1 report holds nothing of B1 or A2');
    is_deeply([map { [$_->{currency}, $_->{count}, $_->{value_minor}] } @{ $r->{json}{pipeline} || [] }], [['RON', 1, 100]],
              'A1 pipeline: own deal only');
    is_deeply($r->{json}{win_rate}, { won => 0, lost => 0, closed => 0, rate => undef }, 'A1 win_rate: B1\'s win not counted');
    is_deeply([map { $_->{id} } @{ $r->{json}{closing_this_month}{items} || [] }], [$oa1->{id}], 'A1 closing items: own');
}
{
    my $r = call(GET => '/reports/pipeline?owner=team', $a1);
    ok($r->{status} == 400 || $r->{status} == 403, 'A1 owner=team: 400 or 403') or diag("$r->{status} $r->{content}");
    unlike($r->{content}, qr/CHF|Secret/, 'A1 owner=team leaks nothing');
}
{
    my $r = call(PATCH => "/opportunities/$oa1->{id}", $a1, { owner_id => $b1->{id} });
    ok($r->{status} == 422 || $r->{status} == 403, 'A1 hands a deal to B1: 422 or 403');
    is_deeply(pointers($r), ['#/owner_id'], 'pointer #/owner_id') if $r->{status} == 422;
    is(call(GET => "/opportunities/$oa1->{id}", $a1)->{json}{owner_id}, $a1->{id}, 'owner unchanged');
}

# --- a manager sees the team's, not another team's ---------------------------------------------------
my @team = ($oa1->{id}, $oa2->{id}, $om1->{id});
is_deeply(ids(call(GET => '/opportunities?limit=200', $m1)), sorted(@team), 'M1 lists the team\'s deals');
is_deeply(ids(call(GET => '/opportunities?owner=team&limit=200', $m1)), sorted(@team), 'M1 owner=team');
is_deeply(ids(call(GET => '/opportunities?q=secret', $m1)), [$oa2->{id}], 'M1 q=secret finds only the team\'s');
is_deeply(ids(call(GET => '/activities?limit=200', $m1)), sorted($xa1->{id}, $xa2->{id}), 'M1 lists the team\'s activities');
is_deeply(ids(call(GET => '/opportunities?limit=200', $m2)), sorted($ob1->{id}, $ob2->{id}), 'M2 lists only B1\'s deals');
is(call(GET => "/opportunities/$oa2->{id}", $m1)->{status}, 200, 'M1 GET a team deal');
is(call(GET => "/opportunities/$oa2->{id}/history", $m1)->{status}, 200, 'M1 history of a team deal');
is(call(GET => "/clients/$ca2->{id}/history", $m1)->{status}, 200, 'M1 history of a team client');
is(call(GET => "/activities/$xa2->{id}", $m1)->{status}, 200, 'M1 GET a team activity');
$snap = snapshot();
problem(call(GET => "/opportunities/$ob1->{id}", $m1), 404, 'not-found', 'M1 GET B1 deal');
problem(call(PATCH => "/opportunities/$ob1->{id}", $m1, { title => 'x' }), 404, 'not-found', 'M1 PATCH B1 deal');
problem(call(PATCH => "/opportunities/$ob2->{id}", $m1, { stage => 'proposal' }), 404, 'not-found', 'M1 reopens B1 won deal');
problem(call(GET => "/opportunities/$ob1->{id}/history", $m1), 404, 'not-found', 'M1 history of B1 deal');
problem(call(GET => "/clients/$cb1->{id}/history", $m1), 404, 'not-found', 'M1 history of B1 client');
problem(call(GET => "/activities/$xb1->{id}", $m1), 404, 'not-found', 'M1 GET B1 activity');
problem(call(PATCH => "/activities/$xb1->{id}", $m1, { summary => 'x' }), 404, 'not-found', 'M1 PATCH B1 activity');
problem(call(DELETE => "/activities/$xb1->{id}", $m1), 404, 'not-found', 'M1 DELETE B1 activity');
hidden_list("/opportunities?owner=$b1->{id}", $m1, [$ob1->{id}, $ob2->{id}], 'M1 lists B1 deals by owner');
hidden_list("/opportunities?client_id=$cb1->{id}", $m1, [$ob1->{id}, $ob2->{id}], 'M1 lists B1 deals by client');
hidden_list("/activities?client_id=$cb1->{id}", $m1, [$xb1->{id}], 'M1 lists B1 client activities');
hidden_report("/reports/pipeline?owner=$b1->{id}", $m1, 'M1 report of B1');
hidden_report("/reports/pipeline?owner=$m2->{id}", $m1, 'M1 report of M2');
{
    my $r = call(POST => '/opportunities', $m1, { client_id => $ca1->{id}, title => 'For B1', owner_id => $b1->{id},
                                                   expected_close => '2026-12-31' });
    ok($r->{status} == 422 || $r->{status} == 403, 'M1 creates a deal for B1: 422 or 403');
}
is(snapshot(), $snap, 'nothing written by M1 on the other team');
{
    my $r = call(GET => '/reports/pipeline?owner=team', $m1);
    is($r->{status}, 200, 'M1 team report');
    unlike($r->{content}, qr/CHF|B1 Secret/, 'M1 team report holds nothing of B1');
    is_deeply([map { [$_->{currency}, $_->{count}, $_->{value_minor}] } @{ $r->{json}{pipeline} || [] }], [['RON', 3, 600]],
              'M1 team pipeline: 100 + 200 + 300');
    is($r->{json}{win_rate}{won}, 0, 'M1 team win_rate: B1\'s win not counted');
}
{
    my $r = call(GET => '/reports/pipeline?owner=team', $m2);
    is($r->{status}, 200, 'M2 team report');
    is_deeply([map { [$_->{currency}, $_->{count}, $_->{value_minor}] } @{ $r->{json}{pipeline} || [] }], [['CHF', 1, 400]],
              'M2 team pipeline: B1\'s open deal');
    is_deeply($r->{json}{win_rate}, { won => 1, lost => 0, closed => 1, rate => 1 }, 'M2 team win_rate');
}
my $r = call(PATCH => "/opportunities/$oa2->{id}", $m1, { next_step => 'manager says hi' });
is($r->{status}, 200, 'M1 writes a team deal');
is(created('/opportunities', $m1, { client_id => $ca1->{id}, title => 'M1 for A1', owner_id => $a1->{id},
                                    expected_close => '2026-12-31' })->{owner_id}, $a1->{id}, 'M1 creates a deal for A1');
is(created('/activities', $m1, { type => 'note', client_id => $ca2->{id}, summary => 'M1 note' })->{user_id}, $m1->{id},
   'M1 logs on a team client');

# --- integration reads everything, writes nothing ---------------------------------------------
@all_opps = map { $_->{id} } @{ call(GET => '/opportunities?limit=200', $adm)->{json}{items} || [] };
@all_acts = map { $_->{id} } @{ call(GET => '/activities?limit=200', $adm)->{json}{items} || [] };
is_deeply(ids(call(GET => '/opportunities?limit=200', $in)), sorted(@all_opps), 'integration lists every deal');
is_deeply(ids(call(GET => '/activities?limit=200', $in)), sorted(@all_acts), 'integration lists every activity');
is(call(GET => "/opportunities/$ob1->{id}", $in)->{status}, 200, 'integration GET any deal');
is(call(GET => "/opportunities/$ob1->{id}/history", $in)->{status}, 200, 'integration history of any deal');
is(call(GET => "/clients/$cb1->{id}/history", $in)->{status}, 200, 'integration history of any client');
is(call(GET => "/activities/$xb1->{id}", $in)->{status}, 200, 'integration GET any activity');
{
    my $r = call(GET => '/reports/pipeline', $in);
    is($r->{status}, 200, 'integration report of everyone');
    is_deeply([sort map { $_->{currency} } @{ $r->{json}{pipeline} || [] }], ['CHF', 'RON'], 'integration report spans all owners');
    is(call(GET => "/reports/pipeline?owner=$b1->{id}", $in)->{status}, 200, 'integration report of one owner');
}
$snap = snapshot();
problem(call(POST => '/opportunities', $in, { client_id => $ca1->{id}, title => 'Int', expected_close => '2026-12-31' }),
        403, 'forbidden', 'integration POST /opportunities');
problem(call(PATCH => "/opportunities/$oa1->{id}", $in, { title => 'Int' }), 403, 'forbidden', 'integration PATCH deal');
problem(call(PATCH => "/opportunities/$ob2->{id}", $in, { stage => 'proposal' }), 403, 'forbidden', 'integration reopens');
problem(call(POST => '/activities', $in, { type => 'note', client_id => $ca1->{id}, summary => 'Int' }),
        403, 'forbidden', 'integration POST /activities');
problem(call(PATCH => "/activities/$xa1->{id}", $in, { summary => 'Int' }), 403, 'forbidden', 'integration PATCH activity');
problem(call(DELETE => "/activities/$xa1->{id}", $in), 403, 'forbidden', 'integration DELETE activity');
is(snapshot(), $snap, 'nothing written by integration');

# --- activities follow their client -------------------------------------------------------
is(call(PATCH => "/clients/$ca1->{id}", $m1, { owner_id => $a2->{id} })->{status}, 200, 'M1 moves A1\'s client to A2');
problem(call(GET => "/activities/$xa1->{id}", $a1), 404, 'not-found', 'A1 no longer sees the activity on the moved client');
ok(!(grep { $_ == $xa1->{id} } @{ ids(call(GET => '/activities?limit=200', $a1)) }), 'nor lists it');
problem(call(GET => "/clients/$ca1->{id}/history", $a1), 404, 'not-found', 'nor reads the moved client\'s history');
is(call(GET => "/activities/$xa1->{id}", $a2)->{status}, 200, 'A2 sees the activity of the client now owned');
ok((grep { $_ == $xa1->{id} } @{ ids(call(GET => '/activities?limit=200', $a2)) }), 'A2 lists it');
{
    my $r = call(POST => '/activities', $a1, { type => 'note', client_id => $ca1->{id}, summary => 'late' });
    problem($r, 422, 'validation', 'A1 logs on the moved client');
    is_deeply(pointers($r), ['#/client_id'], 'pointer #/client_id');
}

# --- admin -------------------------------------------------------------------------------------
is_deeply(ids(call(GET => '/opportunities?limit=200', $adm)), sorted(@all_opps), 'admin lists every deal');
is(call(GET => "/opportunities/$ob1->{id}", $adm)->{status}, 200, 'admin GET any deal');
is(call(PATCH => "/opportunities/$ob1->{id}", $adm, { next_step => 'admin' })->{status}, 200, 'admin PATCH any deal');
is(call(GET => "/reports/pipeline?owner=$b1->{id}", $adm)->{status}, 200, 'admin report of any owner');

$t->stop;
done_testing;
