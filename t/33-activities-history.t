use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use SalesTest;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $t   = SalesTest->new;
my $adm = $t->{admin};
my $J   = $SalesTest::JSON;
my $ISO = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

my $NOW = '2026-12-10T09:00:00Z';
sub at { $NOW = shift }
sub tok { ref $_[0] ? $_[0]{token} : $_[0] }
sub call {
    my ($method, $path, $who, $body, $h) = @_;
    return $t->api($method, $path, tok($who), $body, { 'X-Sales-Test-Now' => $NOW, %{ $h || {} } });
}
sub ids { [map { $_->{id} } @{ $_[0]{json}{items} || [] }] }
sub uenc { my $s = shift; utf8::encode($s); $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge; $s }
sub bad_param {
    my ($path, $who, $param) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = call(GET => $path, $who);
    problem($r, 400, 'malformed', "GET $path");
    my @named = grep { ($_->{pointer} // '') =~ /(?:^|\/)\Q$param\E$/ || ($_->{detail} // '') =~ /\b\Q$param\E\b/ }
                @{ ref $r->{json} eq 'HASH' && ref $r->{json}{errors} eq 'ARRAY' ? $r->{json}{errors} : [] };
    ok(@named, "GET $path: errors name $param") or diag($r->{content});
}
# Follows next_cursor; returns the items in order.
sub walk_items {
    my ($path, $who, $limit) = @_;
    my (@seen, $cursor, $pages);
    my $sep = $path =~ /\?/ ? '&' : '?';
    do {
        my $r = call(GET => "$path${sep}limit=$limit" . (defined $cursor ? '&cursor=' . uenc($cursor) : ''), $who);
        if ($r->{status} != 200) { diag("walk $path: $r->{status} $r->{content}"); return [@seen, 'ERR'] }
        push @seen, @{ $r->{json}{items} || [] };
        $cursor = $r->{json}{next_cursor};
        $pages++;
    } while (defined $cursor && $pages < 60);
    return \@seen;
}
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        'select count(*) from activities',
        'select coalesce(sum(version),0) from activities',
        'select coalesce(sum(version),0) from opportunities',
        'select count(*) from audit_log',
        $SalesTest::OUTBOX_COUNT;
}
sub mkclient {
    my ($who, $name, %f) = @_;
    my $r = call(POST => '/clients', $who, { name => $name, %f });
    is($r->{status}, 201, "client $name") or diag($r->{content});
    return $r->{json};
}
sub mkopp {
    my ($who, %f) = @_;
    my $r = call(POST => '/opportunities', $who, \%f);
    is($r->{status}, 201, "opportunity $f{title}") or diag($r->{content});
    return $r->{json};
}
sub mkact {
    my ($who, %f) = @_;
    my $r = call(POST => '/activities', $who, \%f);
    is($r->{status}, 201, "activity $f{summary}") or diag($r->{content});
    return $r->{json} || {};
}
sub opp { call(GET => "/opportunities/$_[0]", $adm)->{json} || {} }

my $m = $t->user('manager');
my $a = $t->user('ae', manager_id => $m->{id});
my $b = $t->user('ae');

unlike(snapshot(), qr/ERR/, 'activities, opportunities, audit and outbox are readable');

at('2026-10-01T09:00:00Z');
my $ca1 = mkclient($a, 'Activ Unu SRL');
my $ca2 = mkclient($a, 'Activ Doi SRL');
my $cx  = mkclient($a, 'Activ Arhivat SRL');
my $cb  = mkclient($b, 'Activ B SRL');
at('2026-10-02T09:00:00Z');
my $o1 = mkopp($a, client_id => $ca1->{id}, title => 'Deal unu', expected_close => '2027-01-31', value_minor => 100);
at('2026-10-03T09:00:00Z');
my $o2 = mkopp($a, client_id => $ca2->{id}, title => 'Deal doi', expected_close => '2027-01-31', value_minor => 200);
my $ob = mkopp($b, client_id => $cb->{id}, title => 'Deal B', expected_close => '2027-01-31');
at('2026-10-04T09:00:00Z');
is(call(PATCH => "/opportunities/$o1->{id}", $a, { stage => 'proposal' })->{status}, 200, 'o1 -> proposal');
at('2026-10-05T09:00:00Z');
is(call(PATCH => "/clients/$ca1->{id}", $a, { notes => 'client edit' })->{status}, 200, 'client edited');
is(call(POST => "/clients/$cx->{id}/archive", $a)->{status}, 200, 'archive a client');
at('2026-10-06T09:00:00Z');
is(call(PATCH => "/opportunities/$o1->{id}", $a, { next_step => 'call' })->{status}, 200, 'o1 edited without a stage change');

at('2026-12-10T09:00:00Z');
is_deeply(ids(call(GET => '/opportunities?stale=30', $a)), [$o1->{id}, $o2->{id}], 'both deals stale before any activity');
ok(!defined opp($o1->{id})->{last_activity_at}, 'last_activity_at null before any activity');

# --- create ----------------------------------------------------------------------
at('2026-12-08T10:00:00Z');
my $audit0 = $t->sql('select count(*) from audit_log');
my $r = call(POST => '/activities', $a,
             { type => 'call', client_id => $ca1->{id}, opportunity_id => $o1->{id}, summary => 'Discussed scope',
               outcome => 'demo on Friday' });
is($r->{status}, 201, 'POST /activities 201') or diag($r->{content});
my $act1 = $r->{json} || {};
like($act1->{id} // '', qr/^\d+$/, 'id');
like($r->{headers}{location} // '', qr{/activities/$act1->{id}$}, 'Location');
is($act1->{type}, 'call', 'type');
is($act1->{client_id}, $ca1->{id}, 'client_id');
is($act1->{opportunity_id}, $o1->{id}, 'opportunity_id');
is($act1->{summary}, 'Discussed scope', 'summary');
is($act1->{outcome}, 'demo on Friday', 'outcome');
is($act1->{user_id}, $a->{id}, 'user_id is the caller');
is($act1->{occurred_at}, '2026-12-08T10:00:00Z', 'occurred_at defaults to now');
is($act1->{created_at}, '2026-12-08T10:00:00Z', 'created_at');
is($act1->{updated_at}, '2026-12-08T10:00:00Z', 'updated_at');
is($act1->{version}, 1, 'version 1');
is($t->sql('select count(*) from audit_log'), $audit0 + 1, 'audit row for the activity');
is($t->sql("select count(*) from activities where id = $act1->{id} and opportunity_id = $o1->{id}"), 1, 'activity row');
is(opp($o1->{id})->{last_activity_at}, '2026-12-08T10:00:00Z', 'logging on an opportunity sets last_activity_at');
ok(!defined opp($o2->{id})->{last_activity_at}, 'the other deal is untouched');
at('2026-12-10T09:00:00Z');
is_deeply(ids(call(GET => '/opportunities?stale=30', $a)), [$o2->{id}], 'the activity un-stales o1');

$r = call(GET => "/activities/$act1->{id}", $a);
is($r->{status}, 200, 'GET activity');
is_deeply($r->{json}, $act1, 'GET answers the created activity');

at('2026-12-08T11:00:00Z');
my $act2 = mkact($a, type => 'email', client_id => $ca1->{id}, summary => 'Sent brochure');
ok(exists $act2->{opportunity_id} && !defined $act2->{opportunity_id}, 'opportunity_id optional (null)');
ok(exists $act2->{outcome} && !defined $act2->{outcome}, 'outcome optional (null)');
is(opp($o1->{id})->{last_activity_at}, '2026-12-08T10:00:00Z', 'an activity without the deal leaves last_activity_at');
my $act6 = mkact($a, type => 'note', client_id => $ca1->{id}, summary => 'Same minute note', occurred_at => '2026-12-08T11:00:00Z');
at('2026-12-09T08:00:00Z');
my $act3 = mkact($m, type => 'meeting', client_id => $ca1->{id}, opportunity_id => $o1->{id}, summary => 'Manager visit');
is($act3->{user_id}, $m->{id}, 'a manager logs on a team client');
is(opp($o1->{id})->{last_activity_at}, '2026-12-09T08:00:00Z', 'last_activity_at moves to the newest activity');
at('2026-12-09T09:00:00Z');
my $act4 = mkact($a, type => 'note', client_id => $ca2->{id}, opportunity_id => $o2->{id}, summary => 'Doi note');
is(opp($o2->{id})->{last_activity_at}, '2026-12-09T09:00:00Z', 'o2 last_activity_at');
at('2026-12-09T10:00:00Z');
my $act5 = mkact($a, type => 'call', client_id => $ca1->{id}, summary => 'Old call', occurred_at => '2026-11-15T12:00:00Z');
is($act5->{occurred_at}, '2026-11-15T12:00:00Z', 'explicit occurred_at kept');
is($act5->{created_at}, '2026-12-09T10:00:00Z', 'created_at is now');
at('2026-12-09T11:00:00Z');
my $actb = mkact($b, type => 'call', client_id => $cb->{id}, opportunity_id => $ob->{id}, summary => 'B call');

at('2026-12-10T09:00:00Z');
is_deeply(ids(call(GET => '/opportunities?stale=30', $a)), [], 'no stale deal after the activities');
# o1: last activity 2026-12-09T08:00 (1 day 1 h ago); o2: 2026-12-09T09:00 (exactly 1 day ago).
is_deeply(ids(call(GET => '/opportunities?stale=1', $a)), [$o1->{id}], 'stale=1 counts the last activity');

# --- update / delete ---------------------------------------------------------------
at('2026-12-10T10:00:00Z');
$r = call(PATCH => "/activities/$act1->{id}", $a, { outcome => 'demo moved' });
is($r->{status}, 200, 'PATCH activity') or diag($r->{content});
is($r->{json}{outcome}, 'demo moved', 'outcome changed');
is($r->{json}{version}, 2, 'version 2');
is($r->{json}{updated_at}, '2026-12-10T10:00:00Z', 'updated_at moves');
is($r->{json}{occurred_at}, '2026-12-08T10:00:00Z', 'occurred_at kept');
is($r->{json}{user_id}, $a->{id}, 'user_id kept');
$r = call(PATCH => "/activities/$act1->{id}", $a, { outcome => undef });
is($r->{status}, 200, 'PATCH outcome null');
ok(exists $r->{json}{outcome} && !defined $r->{json}{outcome}, 'outcome cleared');
$act1 = $r->{json};
$r = call(PATCH => "/activities/$act3->{id}", $a, { summary => 'Manager visit, notes' });
is($r->{status}, 200, 'the AE edits an activity on their client logged by the manager');
is($r->{json}{user_id}, $m->{id}, 'user_id stays who logged it');
$act3 = $r->{json};

my $snap = snapshot();
for my $case (
    [{ summary => '' },                            '#/summary'],
    [{ summary => undef },                         '#/summary'],
    [{ type => 'fax' },                            '#/type'],
    [{ type => undef },                            '#/type'],
    [{ opportunity_id => $o2->{id} },              '#/opportunity_id'],
    [{ user_id => $m->{id} },                      '#/user_id'],
    [{ occurred_at => 'yesterday' },               '#/occurred_at'],
    [{ color => 'red' },                           '#/color'],
) {
    my $r = call(PATCH => "/activities/$act1->{id}", $a, $case->[0]);
    problem($r, 422, 'validation', "PATCH activity $case->[1]");
    is_deeply(pointers($r), [$case->[1]], "PATCH pointer $case->[1]");
}
problem(call(PATCH => '/activities/999999', $a, { summary => 'x' }), 404, 'not-found', 'PATCH unknown activity');
problem(call(GET => '/activities/999999', $a), 404, 'not-found', 'GET unknown activity');
problem(call(DELETE => '/activities/999999', $a), 404, 'not-found', 'DELETE unknown activity');
is(snapshot(), $snap, 'nothing written by invalid activity patches');

my $tmp = mkact($a, type => 'note', client_id => $ca2->{id}, summary => 'To delete', occurred_at => '2026-12-01T00:00:00Z');
$audit0 = $t->sql('select count(*) from audit_log');
$r = call(DELETE => "/activities/$tmp->{id}", $a);
is($r->{status}, 204, 'DELETE activity 204');
is($r->{content}, '', '204 has no body');
is($t->sql('select count(*) from audit_log'), $audit0 + 1, 'audit row for the delete');
problem(call(GET => "/activities/$tmp->{id}", $a), 404, 'not-found', 'deleted activity gone');
problem(call(DELETE => "/activities/$tmp->{id}", $a), 404, 'not-found', 'delete twice');

# --- validation ----------------------------------------------------------------------
my %ok = (type => 'call', client_id => $ca1->{id}, summary => 'ok');
sub without { my %h = %ok; delete $h{$_} for @_; \%h }
$snap = snapshot();
for my $case (
    [without('type'),                                          ['#/type']],
    [{ %ok, type => 'fax' },                                   ['#/type']],
    [{ %ok, type => 'Call' },                                  ['#/type']],
    [{ %ok, type => 1 },                                       ['#/type']],
    [without('client_id'),                                     ['#/client_id']],
    [{ %ok, client_id => 999999 },                             ['#/client_id']],
    [{ %ok, client_id => $cx->{id} },                          ['#/client_id']],
    [{ %ok, client_id => $cb->{id} },                          ['#/client_id']],
    [{ %ok, opportunity_id => $o2->{id} },                     ['#/opportunity_id']],
    [{ %ok, opportunity_id => 999999 },                        ['#/opportunity_id']],
    [{ %ok, opportunity_id => $ob->{id} },                     ['#/opportunity_id']],
    [{ %ok, opportunity_id => 'one' },                         ['#/opportunity_id']],
    [without('summary'),                                       ['#/summary']],
    [{ %ok, summary => '' },                                   ['#/summary']],
    [{ %ok, summary => 's' x 2001 },                           ['#/summary']],
    [{ %ok, outcome => 'o' x 2001 },                           ['#/outcome']],
    [{ %ok, occurred_at => 'yesterday' },                      ['#/occurred_at']],
    [{ %ok, occurred_at => '2026-12-08' },                     ['#/occurred_at']],
    [{ %ok, occurred_at => '2026-12-08T10:00:00' },            ['#/occurred_at']],
    [{ %ok, occurred_at => '2026-02-30T10:00:00Z' },           ['#/occurred_at']],
    [{ %ok, user_id => $m->{id} },                             ['#/user_id']],
    [{ %ok, id => 1 },                                         ['#/id']],
    [{ %ok, color => 'red' },                                  ['#/color']],
    [{ type => 'fax', summary => '' , client_id => $ca1->{id} }, ['#/summary', '#/type']],
) {
    my $r = call(POST => '/activities', $a, $case->[0]);
    my $name = join(',', @{ $case->[1] }) . ' ' . substr($J->encode($case->[0]), 0, 80);
    problem($r, 422, 'validation', "activity invalid $name");
    is_deeply(pointers($r), $case->[1], "pointers $name");
}
{
    my $r = call(POST => '/activities', $a, '');
    problem($r, 422, 'validation', 'empty activity body');
    is_deeply(pointers($r), ['#/client_id', '#/summary', '#/type'], 'empty body names the required fields');
}
problem(call(POST => '/activities', $a, '{"type":'), 400, 'malformed', 'malformed activity body');
is(snapshot(), $snap, 'nothing written by invalid activities');
ok(!defined opp($o2->{id})->{last_activity_at} || opp($o2->{id})->{last_activity_at} eq '2026-12-09T09:00:00Z',
   'a refused activity does not touch last_activity_at');

# --- list ------------------------------------------------------------------------------
sub A { [map { $_->{id} } @_] }
sub list_is {
    my ($path, $who, $wants, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = call(GET => $path, $who);
    is($r->{status}, 200, "$name: 200") or diag($r->{content});
    my $got = $J->encode(ids($r));
    ok((grep { $J->encode($_) eq $got } @$wants), $name) or diag("got $got want " . $J->encode($wants));
    return ids($r);
}
# occurred_at: act4 12-09T09, act3 12-09T08, act2 = act6 12-08T11 (tie), act1 12-08T10, act5 11-15T12.
my $all_a = list_is('/activities', $a, [A($act4, $act3, $act2, $act6, $act1, $act5), A($act4, $act3, $act6, $act2, $act1, $act5)],
                    'AE list: newest first by occurred_at');
list_is("/activities?client_id=$ca1->{id}", $a, [A($act3, $act2, $act6, $act1, $act5), A($act3, $act6, $act2, $act1, $act5)],
        'client_id filter');
list_is("/activities?client_id=$ca2->{id}", $a, [A($act4)], 'client_id filter (other client)');
list_is("/activities?opportunity_id=$o1->{id}", $a, [A($act3, $act1)], 'opportunity_id filter');
list_is('/activities?type=call', $a, [A($act1, $act5)], 'type filter');
list_is('/activities?type=meeting', $a, [A($act3)], 'type=meeting');
list_is("/activities?user_id=$m->{id}", $a, [A($act3)], 'user_id filter');
list_is("/activities?user_id=$a->{id}", $a, [A($act4, $act2, $act6, $act1, $act5), A($act4, $act6, $act2, $act1, $act5)],
        'user_id of the AE');
list_is("/activities?client_id=$ca1->{id}&type=call", $a, [A($act1, $act5)], 'client_id and type');
list_is("/activities?client_id=$ca1->{id}&type=note", $a, [A($act6)], 'client_id and type=note');
list_is('/activities', $m, [A($act4, $act3, $act2, $act6, $act1, $act5), A($act4, $act3, $act6, $act2, $act1, $act5)],
        'manager sees the team\'s activities');
list_is('/activities', $adm, [A($actb, $act4, $act3, $act2, $act6, $act1, $act5), A($actb, $act4, $act3, $act6, $act2, $act1, $act5)],
        'admin sees all');
for my $lim (1, 2, 4) {
    is_deeply([map { $_->{id} } @{ walk_items('/activities', $a, $lim) }], $all_a, "activities limit=$lim: pages cover all once");
}
is_deeply([map { $_->{id} } @{ walk_items("/activities?client_id=$ca1->{id}", $a, 2) }],
          [grep { $_ != $act4->{id} } @$all_a], 'filtered pages');
for my $bad (['type=fax', 'type'], ['client_id=abc', 'client_id'], ['opportunity_id=x', 'opportunity_id'],
             ['user_id=me', 'user_id'], ['limit=0', 'limit'], ['limit=201', 'limit'], ['cursor=zzz', 'cursor'],
             ['color=red', 'color']) {
    bad_param("/activities?$bad->[0]", $a, $bad->[1]);
}

# --- a client's history ---------------------------------------------------------------------
# [at, kind, subject type, subject id, user_id], newest first. Two points are checked on their own below
# (the creation's own stage row, and who created the client), so the rest does not depend on them.
my @want = (
    ['2026-12-09T08:00:00Z', 'activity',                  'activity',    $act3->{id}, $m->{id}],
    ['2026-12-08T11:00:00Z', 'activity',                  'activity',    $act2->{id}, $a->{id}],
    ['2026-12-08T11:00:00Z', 'activity',                  'activity',    $act6->{id}, $a->{id}],
    ['2026-12-08T10:00:00Z', 'activity',                  'activity',    $act1->{id}, $a->{id}],
    ['2026-11-15T12:00:00Z', 'activity',                  'activity',    $act5->{id}, $a->{id}],
    ['2026-10-04T09:00:00Z', 'opportunity.stage_changed', 'opportunity', $o1->{id},   $a->{id}],
    ['2026-10-02T09:00:00Z', 'opportunity.created',       'opportunity', $o1->{id},   $a->{id}],
    ['2026-10-01T09:00:00Z', 'client.created',            'client',      $ca1->{id},  'who'],
);
sub is_creation_row { $_[0]{kind} eq 'opportunity.stage_changed' && ref $_[0]{data} eq 'HASH' && !defined $_[0]{data}{from} }
sub tuple {
    my $i = shift;
    return [$i->{at}, $i->{kind}, ref $i->{subject} eq 'HASH' ? @{ $i->{subject} }{qw(type id)} : (undef, undef),
            $i->{kind} eq 'client.created' ? 'who' : $i->{user_id}];
}
sub key { $J->encode($_[0]) }
sub history_ok {
    my ($items, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @got = map { tuple($_) } grep { !is_creation_row($_) } @$items;
    is_deeply([map { $_->[0] } @got], [map { $_->[0] } @want], "$name: newest first") or diag(explain \@got);
    is_deeply([sort map { key($_) } @got], [sort map { key($_) } @want], "$name: every item once");
    my @ats = map { $_->{at} // '' } @$items;
    is_deeply(\@ats, [reverse sort @ats], "$name: all items newest first");
}

$r = call(GET => "/clients/$ca1->{id}/history?limit=200", $a);
is($r->{status}, 200, 'GET /clients/{id}/history 200') or diag($r->{content});
my $items = $r->{json}{items} || [];
history_ok($items, 'client history');
ok(exists $r->{json}{next_cursor} && !defined $r->{json}{next_cursor}, 'next_cursor null when all fit');
# README: the timeline shows a creation once, as opportunity.created with its
# first stage in data.stage; opportunity.stage_changed is every later change.
is_deeply([map { [tuple($_), $_->{data}{stage}] }
           grep { $_->{kind} eq 'opportunity.created' && $_->{subject}{id} == $o1->{id} } @$items],
          [[['2026-10-02T09:00:00Z', 'opportunity.created', 'opportunity', $o1->{id}, $a->{id}], 'qualified']],
          'the creation appears once, as opportunity.created in its first stage');
ok(!(grep { is_creation_row($_) } @$items), 'no stage change from nothing in the timeline');
is_deeply([map { $_->{user_id} } grep { $_->{kind} eq 'client.created' } @$items], [$a->{id}],
          'client.created names the user who created the client');
my @shape_bad = grep {
    join(',', sort keys %$_) ne 'at,data,kind,subject,summary,user_id'
    || ref $_->{subject} ne 'HASH' || join(',', sort keys %{ $_->{subject} }) ne 'id,type'
    || ($_->{at} // '') !~ $ISO || !defined $_->{summary} || ref \$_->{summary} ne 'SCALAR'
} @$items;
ok(!@shape_bad, 'items have exactly at, kind, subject {type, id}, user_id, summary, data') or diag(explain \@shape_bad);
my @sc = grep { $_->{kind} eq 'opportunity.stage_changed' && !is_creation_row($_) } @$items;
is_deeply([map { [($_->{data} || {})->{from}, ($_->{data} || {})->{to}] } @sc], [['qualified', 'proposal']],
          'stage_changed items carry data.from and data.to');
ok(!(grep { $_->{kind} =~ /^client\.(?:updated|archived)|^opportunity\.updated$/ } @$items),
   'no kinds beyond the documented ones');
ok(!(grep { ($_->{subject}{id} // 0) == $o2->{id} && $_->{subject}{type} eq 'opportunity' } @$items),
   'another client\'s deal is not in the history');
my $full = $J->encode($items);
for my $lim (1, 2, 3, 4) {
    my $walked = walk_items("/clients/$ca1->{id}/history", $a, $lim);
    is($J->encode($walked), $full, "history limit=$lim: pages cover everything once, in the same order");
}
is(scalar @{ call(GET => "/clients/$ca1->{id}/history", $a)->{json}{items} || [] }, scalar @$items,
   'the default limit holds the whole history');
{
    my $r1 = call(GET => "/clients/$ca1->{id}/history?limit=4", $a);
    is(scalar @{ $r1->{json}{items} || [] }, 4, 'limit=4 answers 4');
    ok(defined $r1->{json}{next_cursor}, 'next_cursor when more remain');
}
$r = call(GET => "/clients/$ca2->{id}/history", $m);
is($r->{status}, 200, 'manager reads a team client\'s history');
is_deeply([map { $_->{kind} } grep { !is_creation_row($_) } @{ $r->{json}{items} || [] }],
          ['activity', 'opportunity.created', 'client.created'], 'ca2 history kinds, newest first')
    or diag(explain [map { tuple($_) } @{ $r->{json}{items} || [] }]);
$r = call(GET => "/clients/$cx->{id}/history", $a);
is($r->{status}, 200, 'history of an archived client is readable');
is_deeply([map { tuple($_) } @{ $r->{json}{items} || [] }], [['2026-10-01T09:00:00Z', 'client.created', 'client', $cx->{id}, 'who']],
          'archived client history: client.created');
problem(call(GET => '/clients/999999/history', $a), 404, 'not-found', 'history of an unknown client');
bad_param("/clients/$ca1->{id}/history?limit=0", $a, 'limit');
bad_param("/clients/$ca1->{id}/history?cursor=nope", $a, 'cursor');
bad_param("/clients/$ca1->{id}/history?kind=activity", $a, 'kind');

$t->stop;
done_testing;
