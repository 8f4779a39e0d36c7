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

# Every request carries the test clock; at() moves it.
my $NOW = '2026-12-10T09:00:00Z';
sub at { $NOW = shift }
sub call {
    my ($method, $path, $tok, $body, $h) = @_;
    return $t->api($method, $path, $tok, $body, { 'X-Sales-Test-Now' => $NOW, %{ $h || {} } });
}
sub ids { [map { $_->{id} } @{ $_[0]{json}{items} || [] }] }
sub uenc { my $s = shift; utf8::encode($s); $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge; $s }

# 400 naming the query parameter.
sub bad_param {
    my ($path, $tok, $param) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = call(GET => $path, $tok);
    problem($r, 400, 'malformed', "GET $path");
    my @named = grep { ($_->{pointer} // '') =~ /(?:^|\/)\Q$param\E$/ || ($_->{detail} // '') =~ /\b\Q$param\E\b/ }
                @{ ref $r->{json} eq 'HASH' && ref $r->{json}{errors} eq 'ARRAY' ? $r->{json}{errors} : [] };
    ok(@named, "GET $path: errors name $param") or diag($r->{content});
}

# Follows next_cursor from $path with $limit; returns the ids in order.
sub walk {
    my ($path, $tok, $limit) = @_;
    my (@seen, $cursor, $pages);
    my $sep = $path =~ /\?/ ? '&' : '?';
    do {
        my $r = call(GET => "$path${sep}limit=$limit" . (defined $cursor ? '&cursor=' . uenc($cursor) : ''), $tok);
        if ($r->{status} != 200) { diag("walk $path: $r->{status} $r->{content}"); return [@seen, 'ERR'] }
        push @seen, @{ ids($r) };
        $cursor = $r->{json}{next_cursor};
        $pages++;
    } while (defined $cursor && $pages < 50);
    return \@seen;
}

sub events {
    my ($type, $oid) = @_;
    my $out = $t->sql("select payload from outbox where type = '$type' order by id") // '';
    return [grep { ref $_->{data} eq 'HASH' && ref $_->{data}{opportunity} eq 'HASH'
                   && ($_->{data}{opportunity}{id} // 0) == $oid }
            map { eval { $J->decode($_) } || {} } grep { length } split /\n/, $out];
}
sub hist_rows { $t->sql("select count(*) from opportunity_stage_history where opportunity_id = $_[0]") }
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        'select count(*) from opportunities',
        'select coalesce(sum(version),0) from opportunities',
        'select count(*) from opportunity_stage_history',
        'select count(*) from audit_log',
        $SalesTest::OUTBOX_COUNT;
}
sub history {
    my ($id, $tok) = @_;
    my $r = call(GET => "/opportunities/$id/history", $tok // $adm);
    is($r->{status}, 200, "history of $id 200") or diag($r->{content});
    return [map { [$_->{from}, $_->{to}, $_->{user_id}, $_->{at}, $_->{reopened} ? 1 : 0] }
            @{ ref $r->{json} eq 'HASH' ? $r->{json}{items} || [] : [] }];
}
sub mkclient {
    my ($who, $name, %f) = @_;
    my $r = call(POST => '/clients', (ref $who ? $who->{token} : $who), { name => $name, %f });
    is($r->{status}, 201, "client $name") or diag($r->{content});
    return $r->{json};
}
sub mkopp {
    my ($who, %f) = @_;
    my $r = call(POST => '/opportunities', (ref $who ? $who->{token} : $who), \%f);
    is($r->{status}, 201, "create opportunity $f{title}") or diag($r->{content});
    return $r->{json};
}
sub patch {
    my ($who, $id, $body, $name) = @_;
    my $r = call(PATCH => "/opportunities/$id", (ref $who ? $who->{token} : $who), $body);
    is($r->{status}, 200, $name) or diag($r->{content});
    return $r->{json} || {};
}

my $ISO = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my $m   = $t->user('manager');
my $m2  = $t->user('manager');
my $a   = $t->user('ae', manager_id => $m->{id});
my $sdr = $t->user('ae', manager_id => $m->{id});
my $b   = $t->user('ae', manager_id => $m2->{id});

unlike(snapshot(), qr/ERR/, 'opportunities, history, audit and outbox tables are readable');

at('2026-11-01T08:00:00Z');
my $cr  = mkclient($a, 'Client RON SRL');
my $ce  = mkclient($a, 'Client EUR GmbH', country => 'DE', currency => 'EUR');
my $cx  = mkclient($a, 'Client Arhivat SRL');
my $cb  = mkclient($b, 'Client B SRL');
is(call(POST => "/clients/$cx->{id}/archive", $a->{token})->{status}, 200, 'archive one client');

# --- create with defaults ------------------------------------------------------
at('2026-11-02T08:00:00Z');
my $snap0 = snapshot();
my $r = call(POST => '/opportunities', $a->{token},
             { client_id => $cr->{id}, title => 'ERP rollout', value_minor => 2500000, expected_close => '2026-12-20' });
is($r->{status}, 201, 'POST /opportunities 201') or diag($r->{content});
my $o = $r->{json} || {};
like($o->{id} // '', qr/^\d+$/, 'id');
like($r->{headers}{location} // '', qr{/opportunities/$o->{id}$}, 'Location names the opportunity');
for my $f (qw(id client_id title owner_id handed_over_by source value_minor currency expected_close stage probability
              probability_overridden next_step next_step_date lost_reason stage_changed_at last_activity_at won_at
              lost_at closed_at created_at updated_at version)) {
    ok(exists $o->{$f}, "field $f present");
}
is($o->{client_id}, $cr->{id}, 'client_id');
is($o->{title}, 'ERP rollout', 'title');
is($o->{owner_id}, $a->{id}, 'owner defaults to the caller');
is($o->{stage}, 'qualified', 'stage defaults to qualified');
is($o->{probability}, 10, 'probability defaults to 10');
ok(JSON::PP::is_bool($o->{probability_overridden}) && !$o->{probability_overridden}, 'probability_overridden false');
is($o->{currency}, 'RON', 'currency from the client (RON)');
is($o->{value_minor}, 2500000, 'value_minor');
is($o->{expected_close}, '2026-12-20', 'expected_close');
is($o->{version}, 1, 'version 1');
is($o->{created_at}, '2026-11-02T08:00:00Z', 'created_at is the test time');
is($o->{updated_at}, '2026-11-02T08:00:00Z', 'updated_at is the test time');
is($o->{stage_changed_at}, '2026-11-02T08:00:00Z', 'stage_changed_at is the creation time');
ok(!defined $o->{$_}, "$_ null") for qw(won_at lost_at closed_at lost_reason last_activity_at handed_over_by source next_step next_step_date);
is($t->sql('select count(*) from opportunities'), 1, 'one opportunities row');
is(hist_rows($o->{id}), 1, 'creation writes one stage history row');
is(scalar @{ events('opportunity.created', $o->{id}) }, 1, 'outbox: opportunity.created');
my $ev = events('opportunity.stage_changed', $o->{id});
is(scalar @$ev, 1, 'outbox: opportunity.stage_changed on creation');
is($ev->[0]{type}, 'opportunity.stage_changed', 'event type in the payload');
ok(exists $ev->[0]{data}{from} && !defined $ev->[0]{data}{from}, 'creation event: from null');
is($ev->[0]{data}{to}, 'qualified', 'creation event: to qualified');
is($ev->[0]{data}{user_id}, $a->{id}, 'creation event: user_id');
ok(JSON::PP::is_bool($ev->[0]{data}{reopened}) && !$ev->[0]{data}{reopened}, 'creation event: reopened false');
is(events('opportunity.created', $o->{id})->[0]{data}{opportunity}{title}, 'ERP rollout', 'created event carries the opportunity');
is(scalar @{ events('opportunity.updated', $o->{id}) }, 0, 'no opportunity.updated on creation');
is_deeply(history($o->{id}, $a->{token}), [[undef, 'qualified', $a->{id}, '2026-11-02T08:00:00Z', 0]], 'history: the creation');

$r = call(GET => "/opportunities/$o->{id}", $a->{token});
is($r->{status}, 200, 'GET 200');
is_deeply($r->{json}, $o, 'GET answers the created opportunity');

my $oe = mkopp($a, client_id => $ce->{id}, title => 'Licences', expected_close => '2027-01-15');
is($oe->{currency}, 'EUR', 'currency from the client (EUR)');
is($oe->{value_minor}, 0, 'value_minor defaults to 0');
my $ou = mkopp($a, client_id => $ce->{id}, title => 'USD deal', currency => 'USD', expected_close => '2028-02-29',
               value_minor => 1000000000000000, stage => 'proposal', source => 'referral', handed_over_by => $sdr->{id},
               next_step => 'send offer', next_step_date => '2026-11-05');
is($ou->{currency}, 'USD', 'explicit currency kept');
is($ou->{expected_close}, '2028-02-29', 'leap day accepted');
is($ou->{value_minor}, 1000000000000000, 'value_minor 10^15 accepted');
is($ou->{stage}, 'proposal', 'created at proposal');
is($ou->{probability}, 50, 'proposal default probability 50');
is($ou->{handed_over_by}, $sdr->{id}, 'handed_over_by');
is($ou->{source}, 'referral', 'source');
is($ou->{next_step_date}, '2026-11-05', 'next_step_date');
my $mo = mkopp($m, client_id => $cr->{id}, title => 'By manager for AE', owner_id => $a->{id}, expected_close => '2026-12-01');
is($mo->{owner_id}, $a->{id}, 'manager creates for a team member');

# --- validation ------------------------------------------------------------------
my %ok = (client_id => $cr->{id}, title => 'Valid', expected_close => '2026-12-20');
sub without { my %h = %ok; delete $h{$_} for @_; \%h }
my $snap = snapshot();
for my $case (
    [without('title'),                                       ['#/title']],
    [{ %ok, title => '' },                                   ['#/title']],
    [{ %ok, title => 'x' x 201 },                            ['#/title']],
    [{ %ok, title => 7 },                                    ['#/title']],
    [without('client_id'),                                   ['#/client_id']],
    [{ %ok, client_id => 999999 },                           ['#/client_id']],
    [{ %ok, client_id => $cx->{id} },                        ['#/client_id']],
    [{ %ok, client_id => $cb->{id} },                        ['#/client_id']],
    [{ %ok, client_id => "$cr->{id}" },                      ['#/client_id']],
    [without('expected_close'),                              ['#/expected_close']],
    [{ %ok, expected_close => '2026-02-30' },                ['#/expected_close']],
    [{ %ok, expected_close => '2027-02-29' },                ['#/expected_close']],
    [{ %ok, expected_close => 'tomorrow' },                  ['#/expected_close']],
    [{ %ok, expected_close => '2026-12-20T00:00:00Z' },      ['#/expected_close']],
    [{ %ok, expected_close => '2026-1-5' },                  ['#/expected_close']],
    [{ %ok, value_minor => -1 },                             ['#/value_minor']],
    [{ %ok, value_minor => 1.5 },                            ['#/value_minor']],
    [{ %ok, value_minor => 1000000000000001 },               ['#/value_minor']],
    [{ %ok, value_minor => '100' },                          ['#/value_minor']],
    [{ %ok, probability => 101 },                            ['#/probability']],
    [{ %ok, probability => -1 },                             ['#/probability']],
    [{ %ok, probability => 12.5 },                           ['#/probability']],
    [{ %ok, stage => 'closed' },                             ['#/stage']],
    [{ %ok, stage => 'Qualified' },                          ['#/stage']],
    [{ %ok, currency => 'EURO' },                            ['#/currency']],
    [{ %ok, currency => 'E1' },                              ['#/currency']],
    [{ %ok, currency => 978 },                               ['#/currency']],
    [{ %ok, color => 'red' },                                ['#/color']],
    [{ %ok, won_at => '2026-12-01T00:00:00Z' },              ['#/won_at']],
    [{ %ok, closed_at => '2026-12-01T00:00:00Z' },           ['#/closed_at']],
    [{ %ok, lost_at => '2026-12-01T00:00:00Z' },             ['#/lost_at']],
    [{ %ok, probability_overridden => JSON::PP::true },      ['#/probability_overridden']],
    [{ %ok, last_activity_at => '2026-12-01T00:00:00Z' },    ['#/last_activity_at']],
    [{ %ok, stage_changed_at => '2026-12-01T00:00:00Z' },    ['#/stage_changed_at']],
    [{ %ok, id => 5 },                                       ['#/id']],
    [{ %ok, version => 3 },                                  ['#/version']],
    [{ %ok, source => 's' x 101 },                           ['#/source']],
    [{ %ok, next_step => 'n' x 501 },                        ['#/next_step']],
    [{ %ok, next_step_date => '2026-13-01' },                ['#/next_step_date']],
    [{ %ok, lost_reason => 'r' x 501 },                      ['#/lost_reason']],
    [{ %ok, handed_over_by => 999999 },                      ['#/handed_over_by']],
    [{ %ok, title => '', value_minor => -5, probability => 101 }, ['#/probability', '#/title', '#/value_minor']],
) {
    my $r = call(POST => '/opportunities', $a->{token}, $case->[0]);
    my $name = join(',', @{ $case->[1] }) . ' ' . substr($J->encode($case->[0]), 0, 90);
    problem($r, 422, 'validation', "create invalid $name");
    is_deeply(pointers($r), $case->[1], "pointers $name");
}
{
    my $r = call(POST => '/opportunities', $a->{token}, { %ok, owner_id => $b->{id} });
    ok($r->{status} == 422 || $r->{status} == 403, 'AE names another owner: 422 or 403') or diag($r->{content});
    is_deeply(pointers($r), ['#/owner_id'], 'pointer #/owner_id') if $r->{status} == 422;
}
problem(call(POST => '/opportunities', $a->{token}, '{"title":'), 400, 'malformed', 'malformed body');
problem(call(POST => '/opportunities', $a->{token}, '[1]'), 400, 'malformed', 'array body');
problem(call(POST => '/opportunities', $a->{token}, '{"title":"a","title":"b"}'), 400, 'malformed', 'duplicate keys');
{
    my $r = call(POST => '/opportunities', $a->{token}, '');
    problem($r, 422, 'validation', 'empty body counts as {}');
    is_deeply(pointers($r), ['#/client_id', '#/expected_close', '#/title'], 'empty body names the required fields');
}
is(snapshot(), $snap, 'nothing written by invalid creates');

# --- patch ---------------------------------------------------------------------
at('2026-11-02T09:00:00Z');
$r = call(PATCH => "/opportunities/$o->{id}", $a->{token},
          { title => 'ERP rollout phase 1', value_minor => 2600000, next_step => 'demo', next_step_date => '2026-11-10',
            source => 'website' });
is($r->{status}, 200, 'PATCH 200') or diag($r->{content});
is($r->{json}{title}, 'ERP rollout phase 1', 'title changed');
is($r->{json}{value_minor}, 2600000, 'value changed');
is($r->{json}{version}, 2, 'version 2');
is($r->{json}{updated_at}, '2026-11-02T09:00:00Z', 'updated_at moves');
is($r->{json}{created_at}, '2026-11-02T08:00:00Z', 'created_at kept');
is($r->{json}{stage_changed_at}, '2026-11-02T08:00:00Z', 'stage_changed_at kept without a stage change');
is($r->{json}{stage}, 'qualified', 'stage kept');
is(hist_rows($o->{id}), 1, 'no history row without a stage change');
$ev = events('opportunity.updated', $o->{id});
is(scalar @$ev, 1, 'outbox: opportunity.updated');
is($ev->[0]{type}, 'opportunity.updated', 'updated event type');
is_deeply($ev->[0]{data}{changes}{title}, ['ERP rollout', 'ERP rollout phase 1'], 'updated event: changes.title [old, new]');
is_deeply($ev->[0]{data}{changes}{value_minor}, [2500000, 2600000], 'updated event: changes.value_minor [old, new]');
is($ev->[0]{data}{opportunity}{version}, 2, 'updated event carries the new opportunity');
is(scalar @{ events('opportunity.stage_changed', $o->{id}) }, 1, 'no stage_changed event for other fields');
$r = call(PATCH => "/opportunities/$o->{id}", $a->{token}, { next_step => undef, source => undef });
is($r->{status}, 200, 'PATCH null 200');
ok(exists $r->{json}{next_step} && !defined $r->{json}{next_step}, 'next_step cleared by null');
ok(exists $r->{json}{source} && !defined $r->{json}{source}, 'source cleared by null');
is($r->{json}{next_step_date}, '2026-11-10', 'next_step_date kept');
is($r->{json}{version}, 3, 'version 3');

$snap = snapshot();
for my $case (
    [{ client_id => $ce->{id} },                   '#/client_id'],
    [{ title => undef },                           '#/title'],
    [{ title => '' },                              '#/title'],
    [{ expected_close => undef },                  '#/expected_close'],
    [{ expected_close => '2026-02-30' },           '#/expected_close'],
    [{ stage => 'archived' },                      '#/stage'],
    [{ stage => undef },                           '#/stage'],
    [{ stage => 'lost' },                          '#/lost_reason'],
    [{ stage => 'lost', lost_reason => undef },    '#/lost_reason'],
    [{ value_minor => -1 },                        '#/value_minor'],
    [{ probability => 101 },                       '#/probability'],
    [{ won_at => '2026-12-01T00:00:00Z' },         '#/won_at'],
    [{ owner_id => $b->{id} },                     '#/owner_id'],
    [{ color => 'red' },                           '#/color'],
) {
    my $r = call(PATCH => "/opportunities/$o->{id}", $a->{token}, $case->[0]);
    my $name = "$case->[1] " . $J->encode($case->[0]);
    if ($case->[1] eq '#/owner_id') {
        ok($r->{status} == 422 || $r->{status} == 403, "PATCH $name: 422 or 403");
        next;
    }
    problem($r, 422, 'validation', "PATCH invalid $name");
    is_deeply(pointers($r), [$case->[1]], "PATCH pointer $name");
}
problem(call(PATCH => '/opportunities/999999', $a->{token}, { title => 'x' }), 404, 'not-found', 'PATCH unknown');
problem(call(GET => '/opportunities/999999', $a->{token}), 404, 'not-found', 'GET unknown');
problem(call(GET => '/opportunities/999999/history', $a->{token}), 404, 'not-found', 'history of unknown');
is(snapshot(), $snap, 'nothing written by invalid patches');

# --- open stage moves, forward and back -----------------------------------------------
my @moves = (['2026-11-03T08:00:00Z', 'negotiation', 75], ['2026-11-04T08:00:00Z', 'needs_analysis', 25],
             ['2026-11-05T08:00:00Z', 'proposal', 50], ['2026-11-06T08:00:00Z', 'qualified', 10],
             ['2026-11-07T08:00:00Z', 'proposal', 50]);
my @want_hist = ([undef, 'qualified', $a->{id}, '2026-11-02T08:00:00Z', 0]);
my $prev = 'qualified';
my $ver = 3;
for my $mv (@moves) {
    at($mv->[0]);
    my $x = patch($a, $o->{id}, { stage => $mv->[1] }, "move $prev -> $mv->[1]");
    is($x->{stage}, $mv->[1], "stage $mv->[1]");
    is($x->{probability}, $mv->[2], "probability $mv->[2] at $mv->[1]");
    is($x->{stage_changed_at}, $mv->[0], "stage_changed_at at $mv->[1]");
    is($x->{version}, ++$ver, "version $ver");
    ok(!defined $x->{closed_at}, 'still open');
    push @want_hist, [$prev, $mv->[1], $a->{id}, $mv->[0], 0];
    $prev = $mv->[1];
}
is(hist_rows($o->{id}), 6, 'six history rows');
is_deeply(history($o->{id}, $a->{token}), \@want_hist, 'history oldest first: from, to, user_id, at, reopened');
$ev = events('opportunity.stage_changed', $o->{id});
is(scalar @$ev, 6, 'six stage_changed events');
is_deeply([map { [$_->{data}{from}, $_->{data}{to}] } @$ev], [map { [$_->[0], $_->[1]] } @want_hist],
          'stage_changed events: data.from and data.to');
is($ev->[1]{data}{opportunity}{stage}, 'negotiation', 'event carries the opportunity after the move');
{
    # Whether a stage move also writes opportunity.updated is open to reading; if it does, it names the stage change.
    my @upd = @{ events('opportunity.updated', $o->{id}) };
    my @st  = grep { exists $_->{data}{changes}{stage} } @upd;
    is(scalar(@upd) - scalar(@st), 2, 'opportunity.updated for each non-stage PATCH');
    ok(@st == 0 || @st == 5, 'stage moves write opportunity.updated never or always (' . scalar(@st) . ')');
    is_deeply([map { $_->{data}{changes}{stage} } @st], [map { [$_->[0], $_->[1]] } @want_hist[1 .. 5]],
              'any opportunity.updated of a stage move names [from, to]') if @st;
}

# --- won -----------------------------------------------------------------------------
at('2026-11-08T08:00:00Z');
my $w = patch($a, $o->{id}, { stage => 'won' }, 'move to won');
is($w->{stage}, 'won', 'stage won');
is($w->{won_at}, '2026-11-08T08:00:00Z', 'won_at set');
is($w->{closed_at}, '2026-11-08T08:00:00Z', 'closed_at set');
ok(!defined $w->{lost_at}, 'lost_at null');
is($w->{probability}, 100, 'won sets probability 100');
push @want_hist, ['proposal', 'won', $a->{id}, '2026-11-08T08:00:00Z', 0];

# A closed deal is read-only for its AE.
at('2026-11-09T08:00:00Z');
$snap = snapshot();
problem(call(PATCH => "/opportunities/$o->{id}", $a->{token}, { title => 'Changed' }), 409, 'conflict', 'AE edits a won deal');
problem(call(PATCH => "/opportunities/$o->{id}", $a->{token}, { next_step => 'x' }), 409, 'conflict', 'AE sets next_step on a won deal');
for my $body ({ stage => 'proposal' }, { stage => 'lost', lost_reason => 'changed mind' }) {
    my $r = call(PATCH => "/opportunities/$o->{id}", $a->{token}, $body);
    ok($r->{status} == 403 || $r->{status} == 409, "AE moves a won deal to $body->{stage}: 403 or 409")
        or diag("$r->{status} $r->{content}");
    like($r->{json}{type} // '', qr/^urn:sales:problem:(?:forbidden|conflict)$/, 'problem type forbidden or conflict');
}
problem(call(PATCH => "/opportunities/$o->{id}", $m->{token}, { title => 'Changed' }), 409, 'conflict',
        'manager edits a field of a won deal');
problem(call(PATCH => "/opportunities/$o->{id}", $m2->{token}, { stage => 'proposal' }), 404, 'not-found',
        'another team\'s manager cannot reopen');
is(snapshot(), $snap, 'nothing written on the closed deal');
$r = call(GET => "/opportunities/$o->{id}", $a->{token});
is_deeply($r->{json}, $w, 'the won deal is unchanged');

# Reopened by a manager of its owner.
at('2026-11-10T08:00:00Z');
my $re = patch($m, $o->{id}, { stage => 'negotiation' }, 'manager of the owner reopens');
is($re->{stage}, 'negotiation', 'reopened to negotiation');
ok(!defined $re->{$_}, "reopen clears $_") for qw(won_at lost_at closed_at lost_reason);
is($re->{probability}, 75, 'probability of negotiation');
is($re->{owner_id}, $a->{id}, 'owner kept');
push @want_hist, ['won', 'negotiation', $m->{id}, '2026-11-10T08:00:00Z', 1];
is_deeply(history($o->{id}, $a->{token}), \@want_hist, 'history records the reopening');
$ev = events('opportunity.stage_changed', $o->{id});
is_deeply([@{ $ev->[-1]{data} }{qw(from to user_id)}], ['won', 'negotiation', $m->{id}], 'reopen event: from, to, user_id');
ok(JSON::PP::is_bool($ev->[-1]{data}{reopened}) && $ev->[-1]{data}{reopened}, 'reopen event: reopened true');
is($t->sql("select count(*) from opportunity_stage_history where opportunity_id = $o->{id} and reopened"), 1,
   'one reopened history row in the db');

at('2026-11-11T08:00:00Z');
$r = call(PATCH => "/opportunities/$o->{id}", $a->{token}, { title => 'ERP rollout phase 2' });
is($r->{status}, 200, 'AE edits the reopened deal');

# Lost needs a reason.
$snap = snapshot();
$r = call(PATCH => "/opportunities/$o->{id}", $a->{token}, { stage => 'lost' });
problem($r, 422, 'validation', 'lost without a reason');
is_deeply(pointers($r), ['#/lost_reason'], 'lost without a reason names #/lost_reason');
is(snapshot(), $snap, 'nothing written without a reason');
at('2026-11-12T08:00:00Z');
my $l = patch($a, $o->{id}, { stage => 'lost', lost_reason => 'price' }, 'move to lost with a reason');
is($l->{stage}, 'lost', 'stage lost');
is($l->{lost_reason}, 'price', 'lost_reason');
is($l->{lost_at}, '2026-11-12T08:00:00Z', 'lost_at');
is($l->{closed_at}, '2026-11-12T08:00:00Z', 'closed_at');
ok(!defined $l->{won_at}, 'won_at null');
is($l->{probability}, 0, 'lost sets probability 0');
push @want_hist, ['negotiation', 'lost', $a->{id}, '2026-11-12T08:00:00Z', 0];
$snap = snapshot();
$r = call(PATCH => "/opportunities/$o->{id}", $a->{token}, { stage => 'qualified' });
ok($r->{status} == 403 || $r->{status} == 409, 'AE reopens a lost deal: 403 or 409');
problem(call(PATCH => "/opportunities/$o->{id}", $a->{token}, { lost_reason => 'other' }), 409, 'conflict',
        'AE edits the reason of a lost deal');
is(snapshot(), $snap, 'nothing written');

# Reopened by an admin.
at('2026-11-13T08:00:00Z');
$re = patch($adm, $o->{id}, { stage => 'qualified' }, 'admin reopens a lost deal');
ok(!defined $re->{$_}, "admin reopen clears $_") for qw(won_at lost_at closed_at lost_reason);
is($re->{probability}, 10, 'probability of qualified');
push @want_hist, ['lost', 'qualified', $t->{admin_id}, '2026-11-13T08:00:00Z', 1];
is_deeply(history($o->{id}, $a->{token}), \@want_hist, 'history: every change, oldest first');
is(hist_rows($o->{id}), scalar @want_hist, 'history rows in the db');
$ev = events('opportunity.stage_changed', $o->{id});
is(scalar @$ev, scalar @want_hist, 'one stage_changed event per history row');
is_deeply([map { [$_->{data}{from}, $_->{data}{to}, $_->{data}{user_id}, $_->{data}{reopened} ? 1 : 0] } @$ev],
          [map { [@$_[0, 1, 2, 4]] } @want_hist], 'events match the history');
ok(!(grep { $_->{type} ne 'opportunity.stage_changed' || $_->{id} !~ /^evt_/ || ($_->{timestamp} // '') !~ $ISO } @$ev),
   'event payloads: id, type, timestamp');
is(scalar @{ events('opportunity.created', $o->{id}) }, 1, 'still one opportunity.created');
{
    my @upd = @{ events('opportunity.updated', $o->{id}) };
    my @st  = grep { exists $_->{data}{changes}{stage} } @upd;
    is(scalar(@upd) - scalar(@st), 3, 'opportunity.updated for the three non-stage PATCHes');
    ok(@st == 0 || @st == 9, 'stage changes write opportunity.updated never or always (' . scalar(@st) . ')');
    my $TIME = qr/^(?:stage_changed_at|last_activity_at|won_at|lost_at|closed_at|created_at|updated_at)$/;
    my @bad;
    for my $e (@upd) {
        my $ch = $e->{data}{changes} || {};
        for my $f (grep { /$TIME/ } sort keys %$ch) {
            push @bad, "$f " . $J->encode($ch->{$f})
                if ref $ch->{$f} ne 'ARRAY' || grep { defined && !/$ISO/ } @{ $ch->{$f} };
        }
    }
    ok(!@bad, 'times in opportunity.updated changes are ISO 8601 strings or null') or diag(join "\n", @bad[0 .. ($#bad < 4 ? $#bad : 4)]);
}

# Every write adds an audit row; its changes show times as the API does.
is($t->sql("select count(*) from audit_log where object_type = 'opportunity' and object_id = $o->{id}"), 13,
   'audit: one row per write (create, 2 edits, 5 moves, won, reopen, edit, lost, reopen)');
{
    my $r = call(GET => "/audit?object_type=opportunity&object_id=$o->{id}&limit=200", $adm);
    is($r->{status}, 200, 'audit list of the opportunity');
    is(scalar @{ $r->{json}{items} || [] }, 13, 'audit list has the 13 rows');
    my @bad;
    for my $row (@{ $r->{json}{items} || [] }) {
        my $ch = ref $row->{changes} eq 'HASH' ? $row->{changes} : {};
        for my $f (grep { /_at$/ } sort keys %$ch) {
            push @bad, "$f " . $J->encode($ch->{$f})
                if ref $ch->{$f} ne 'ARRAY' || grep { defined && !/$ISO/ } @{ $ch->{$f} };
        }
    }
    ok(!@bad, 'times in audit changes are ISO 8601 strings or null') or diag(join "\n", @bad[0 .. ($#bad < 4 ? $#bad : 4)]);
}

# --- probability override -----------------------------------------------------------
at('2026-11-14T08:00:00Z');
my $p = mkopp($a, client_id => $cr->{id}, title => 'Override', expected_close => '2026-12-24', probability => 35);
is($p->{probability}, 35, 'probability given on create');
ok($p->{probability_overridden}, 'overridden on create');
my $x = patch($a, $p->{id}, { stage => 'proposal' }, 'override -> proposal');
is_deeply([@$x{qw(stage probability)}], ['proposal', 35], 'override kept at proposal');
ok($x->{probability_overridden}, 'still overridden');
$x = patch($a, $p->{id}, { stage => 'negotiation' }, 'override -> negotiation');
is($x->{probability}, 35, 'override kept at negotiation');
$x = patch($a, $p->{id}, { probability => undef }, 'probability null');
is($x->{probability}, 75, 'null goes back to the stage default');
ok(JSON::PP::is_bool($x->{probability_overridden}) && !$x->{probability_overridden}, 'no longer overridden');
$x = patch($a, $p->{id}, { stage => 'qualified' }, 'default follows the stage');
is($x->{probability}, 10, 'qualified default 10');
$x = patch($a, $p->{id}, { probability => 0 }, 'override 0');
is($x->{probability}, 0, 'probability 0');
ok($x->{probability_overridden}, 'overridden at 0');
$x = patch($a, $p->{id}, { stage => 'needs_analysis' }, 'override 0 kept');
is($x->{probability}, 0, 'override 0 kept across a stage change');
$x = patch($a, $p->{id}, { stage => 'proposal', probability => 60 }, 'stage and override together');
is_deeply([@$x{qw(stage probability)}], ['proposal', 60], 'stage and probability in one PATCH');
$x = patch($a, $p->{id}, { stage => 'won' }, 'overridden deal won');
is($x->{probability}, 100, 'won: 100 despite the override');

# --- closed at creation ----------------------------------------------------------------
at('2026-11-15T08:00:00Z');
$snap = snapshot();
$r = call(POST => '/opportunities', $a->{token}, { %ok, title => 'Born lost', stage => 'lost' });
problem($r, 422, 'validation', 'created lost without a reason');
is_deeply(pointers($r), ['#/lost_reason'], 'created lost without a reason names #/lost_reason');
is(snapshot(), $snap, 'nothing written');
# The README lists won and lost among the stages a deal may be given, with no rule against creating one closed.
my $cl = mkopp($a, %ok, title => 'Born lost', stage => 'lost', lost_reason => 'budget');
SKIP: {
    skip 'no deal created lost', 1 unless $cl->{id};
    is_deeply([@$cl{qw(stage probability lost_reason lost_at closed_at won_at)}],
              ['lost', 0, 'budget', '2026-11-15T08:00:00Z', '2026-11-15T08:00:00Z', undef], 'created lost: closed now, probability 0');
}
my $cw = mkopp($a, %ok, title => 'Born won', stage => 'won');
SKIP: {
    skip 'no deal created won', 4 unless $cw->{id};
    is_deeply([@$cw{qw(stage probability won_at closed_at lost_at)}],
              ['won', 100, '2026-11-15T08:00:00Z', '2026-11-15T08:00:00Z', undef], 'created won: closed now, probability 100');
    is_deeply(history($cw->{id}, $a->{token}), [[undef, 'won', $a->{id}, '2026-11-15T08:00:00Z', 0]], 'created won: one history row');
    problem(call(PATCH => "/opportunities/$cw->{id}", $a->{token}, { title => 'x' }), 409, 'conflict', 'created won is read-only');
}

# --- inactive or unsuitable users ----------------------------------------------------------
{
    my $gone = $t->user('ae', manager_id => $m->{id});
    my $int  = $t->user('integration');
    is(call(PATCH => "/users/$gone->{id}", $adm, { disabled => JSON::PP::true })->{status}, 200, 'disable a user');
    $snap = snapshot();
    $r = call(POST => '/opportunities', $a->{token}, { %ok, handed_over_by => $gone->{id} });
    problem($r, 422, 'validation', 'handed_over_by a disabled user');
    is_deeply(pointers($r), ['#/handed_over_by'], 'pointer #/handed_over_by');
    for my $case ([$adm, $int->{id}, 'admin names an integration owner'], [$adm, $gone->{id}, 'admin names a disabled owner'],
                  [$m->{token}, $gone->{id}, 'manager names a disabled team member'], [$m->{token}, $b->{id}, 'manager names another team\'s AE']) {
        my $r = call(POST => '/opportunities', $case->[0], { %ok, owner_id => $case->[1] });
        ok($r->{status} == 422 || $r->{status} == 403, "$case->[2]: 422 or 403") or diag("$r->{status} $r->{content}");
        is_deeply(pointers($r), ['#/owner_id'], "$case->[2]: pointer #/owner_id") if $r->{status} == 422;
    }
    is(snapshot(), $snap, 'nothing written for unsuitable users');
    my $x = mkopp($adm, %ok, title => 'Admin for AE', owner_id => $a->{id});
    is($x->{owner_id}, $a->{id}, 'admin names an active AE');
}

# --- lists ---------------------------------------------------------------------------
my $ml = $t->user('manager');
my $L  = $t->user('ae', manager_id => $ml->{id});
my $L2 = $t->user('ae', manager_id => $ml->{id});
my $O  = $t->user('ae');
at('2026-09-01T09:00:00Z');
my $cL1 = mkclient($L, 'Lista Unu SRL');
my $cL2 = mkclient($L, 'Lista Doi GmbH', currency => 'EUR');
my $cL3 = mkclient($L2, 'Lista Trei SRL');
my $cM  = mkclient($ml, 'Lista Manager SRL');
my $cO  = mkclient($O, 'Lista Alta SRL');

my %n;
at('2026-10-01T09:00:00Z');
$n{6} = mkopp($L, client_id => $cL1->{id}, title => 'SCOALA de vara', value_minor => 999, expected_close => '2027-02-01',
              stage => 'needs_analysis');
at('2026-11-01T09:00:00Z');
$n{2} = mkopp($L, client_id => $cL1->{id}, title => 'ERP rollout', value_minor => 5000, expected_close => '2026-12-20',
              stage => 'proposal');
at('2026-11-20T09:00:00Z');
$n{1} = mkopp($L, client_id => $cL1->{id}, title => 'Ofertă Școală', value_minor => 1000, expected_close => '2026-12-05');
$n{4} = mkopp($L, client_id => $cL1->{id}, title => 'Suport tehnic', value_minor => 0, expected_close => '2026-11-30');
at('2026-11-25T09:00:00Z');
patch($L, $n{6}{id}, { stage => 'proposal' }, 'n6 -> proposal');
at('2026-11-28T09:00:00Z');
patch($L, $n{4}{id}, { stage => 'won' }, 'n4 won');
at('2026-12-01T09:00:00Z');
$n{3} = mkopp($L, client_id => $cL2->{id}, title => 'Licențe anuale', value_minor => 5000, expected_close => '2027-01-10',
              stage => 'negotiation');
$n{5} = mkopp($L, client_id => $cL2->{id}, title => 'Migrare date', value_minor => 250000, expected_close => '2026-12-20');
$n{7} = mkopp($L2, client_id => $cL3->{id}, title => 'Team deal', value_minor => 3000, expected_close => '2026-12-15');
$n{8} = mkopp($ml, client_id => $cM->{id}, title => 'Manager deal', value_minor => 10, expected_close => '2027-03-01');
$n{9} = mkopp($O, client_id => $cO->{id}, title => 'Outside scoala', value_minor => 5000, expected_close => '2026-12-20');
# Cedilla forms (U+0162, U+015E, U+0163) beside the comma-below ones, plus a-circumflex and i-circumflex.
$n{10} = mkopp($O, client_id => $cO->{id}, title => "\x{162}ar\x{103} \x{15E}coal\x{103} \x{ee}nv\x{103}\x{163}\x{103}m\x{e2}nt",
               value_minor => 1, expected_close => '2027-03-15');
at('2026-12-02T09:00:00Z');
patch($L, $n{5}{id}, { stage => 'lost', lost_reason => 'price' }, 'n5 lost');
at('2026-12-05T09:00:00Z');
patch($L, $n{6}{id}, { next_step => 'call back' }, 'n6 touched');
patch($L, $n{2}{id}, { next_step => 'send offer' }, 'n2 touched');
ok($n{6}{id} < $n{2}{id} && $n{2}{id} < $n{1}{id} && $n{1}{id} < $n{4}{id} && $n{4}{id} < $n{3}{id}
   && $n{3}{id} < $n{5}{id}, 'ids follow creation order');

# Rows of L:    exp. close  value   updated_at  state (stage changed)
#   n6          2027-02-01     999  12-05       proposal (11-25)
#   n2          2026-12-20    5000  12-05       proposal (11-01)
#   n1          2026-12-05    1000  11-20       qualified (11-20)
#   n4          2026-11-30       0  11-28       won
#   n3          2027-01-10    5000  12-01       negotiation (12-01), EUR
#   n5          2026-12-20  250000  12-02       lost
sub N { [map { $n{$_}{id} } @_] }
sub list_is {
    my ($path, $tok, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = call(GET => $path, $tok);
    is($r->{status}, 200, "$name: 200") or diag($r->{content});
    is_deeply(ids($r), $want, $name) or diag(explain ids($r));
}
at('2026-12-10T09:00:00Z');
my $Lt = $L->{token};
list_is('/opportunities?limit=200', $Lt, N(4, 1, 2, 5, 3, 6), 'AE default list: own, by expected_close then id');
list_is('/opportunities?owner=me', $Lt, N(4, 1, 2, 5, 3, 6), 'owner=me');
list_is("/opportunities?owner=$L->{id}", $ml->{token}, N(4, 1, 2, 5, 3, 6), 'manager owner=<AE id>');
list_is("/opportunities?owner=$L2->{id}", $ml->{token}, N(7), 'manager owner=<other team member>');
list_is('/opportunities?owner=me', $ml->{token}, N(8), 'manager owner=me');
list_is('/opportunities?owner=team', $ml->{token}, N(4, 1, 7, 2, 5, 3, 6, 8), 'manager owner=team includes own');
list_is('/opportunities', $ml->{token}, N(4, 1, 7, 2, 5, 3, 6, 8), 'manager default list');
list_is("/opportunities?owner=$L->{id}", $adm, N(4, 1, 2, 5, 3, 6), 'admin owner=<id>');
list_is('/opportunities?stage=proposal', $Lt, N(2, 6), 'stage=proposal');
list_is('/opportunities?stage=proposal,negotiation', $Lt, N(2, 3, 6), 'stage=proposal,negotiation');
list_is('/opportunities?stage=won,lost', $Lt, N(4, 5), 'stage=won,lost');
list_is('/opportunities?stage=qualified', $Lt, N(1), 'stage=qualified');
list_is('/opportunities?status=open', $Lt, N(1, 2, 3, 6), 'status=open');
list_is('/opportunities?status=closed', $Lt, N(4, 5), 'status=closed');
list_is("/opportunities?client_id=$cL2->{id}", $Lt, N(5, 3), 'client_id');
list_is("/opportunities?client_id=$cL2->{id}&status=open", $Lt, N(3), 'client_id and status');
list_is('/opportunities?closing=2026-12', $Lt, N(1, 2, 5), 'closing=2026-12');
list_is('/opportunities?closing=2026-11', $Lt, N(4), 'closing=2026-11');
list_is('/opportunities?closing=2027-02', $Lt, N(6), 'closing=2027-02');
list_is('/opportunities?closing=this_month', $Lt, N(1, 2, 5), 'closing=this_month (December)');
list_is('/opportunities?closing=this_month&status=open', $Lt, N(1, 2), 'closing=this_month&status=open');
at('2027-01-15T09:00:00Z');
list_is('/opportunities?closing=this_month', $Lt, N(3), 'closing=this_month follows the test clock (January)');
at('2026-11-30T23:59:59Z');
list_is('/opportunities?closing=this_month', $Lt, N(4), 'closing=this_month on the last second of November');
at('2026-12-10T09:00:00Z');
list_is('/opportunities?value_min=999', $Lt, N(1, 2, 5, 3, 6), 'value_min=999 inclusive');
list_is('/opportunities?value_min=1000', $Lt, N(1, 2, 5, 3), 'value_min=1000 inclusive');
list_is('/opportunities?value_max=999', $Lt, N(4, 6), 'value_max=999 inclusive');
list_is('/opportunities?value_max=0', $Lt, N(4), 'value_max=0');
list_is('/opportunities?value_min=1000&value_max=5000', $Lt, N(1, 2, 3), 'value_min and value_max');
list_is('/opportunities?value_min=5000&value_max=5000', $Lt, N(2, 3), 'value_min = value_max');
list_is('/opportunities?value_min=5001&value_max=249999', $Lt, [], 'empty value range');
list_is('/opportunities?q=scoala', $Lt, N(1, 6), 'q=scoala folds case and diacritics');
list_is('/opportunities?q=' . uenc('ȘCOALĂ'), $Lt, N(1, 6), 'q with diacritics and upper case');
list_is('/opportunities?q=' . uenc('ofertă'), $Lt, N(1), 'q=ofertă');
list_is('/opportunities?q=licente', $Lt, N(3), 'q=licente finds Licențe');
list_is('/opportunities?q=ERP', $Lt, N(2), 'q=ERP');
list_is('/opportunities?q=a%20d', $Lt, N(6), 'q with a space (contains)');
list_is('/opportunities?q=zzz', $Lt, [], 'q without match');
list_is('/opportunities?q=scoala&limit=200', $adm, N(1, 9, 6, 10), 'admin q=scoala sees every owner, cedilla forms too');
list_is('/opportunities?q=invatamant', $adm, N(10), 'q folds a-breve, a-circumflex, i-circumflex and t-cedilla');
list_is('/opportunities?q=' . uenc("\x{21A}ARA"), $adm, N(10), 'q with T-comma finds T-cedilla');
list_is('/opportunities?q=%25', $adm, [], 'q=% is a literal percent sign');
list_is('/opportunities?q=_', $adm, [], 'q=_ is a literal underscore');
list_is('/opportunities?q=' . uenc("'"), $adm, [], 'q with a quote');
# stale at 2026-12-10T09:00:00Z: n1 closes 2026-12-05 (passed); n2 last stage change 39 days ago;
# n6 exactly 15 days; n3 exactly 9 days; n4, n5 closed.
list_is('/opportunities?stale=100', $Lt, N(1), 'stale=100: only the passed expected close');
list_is('/opportunities?stale=30', $Lt, N(1, 2), 'stale=30');
list_is('/opportunities?stale=15', $Lt, N(1, 2), 'stale=15: exactly 15 days is not more than 15');
list_is('/opportunities?stale=14', $Lt, N(1, 2, 6), 'stale=14');
list_is('/opportunities?stale=9', $Lt, N(1, 2, 6), 'stale=9: exactly 9 days is not more than 9');
list_is('/opportunities?stale=8', $Lt, N(1, 2, 3, 6), 'stale=8: every open deal');
list_is('/opportunities?stale=14&sort=value', $Lt, N(6, 1, 2), 'stale with sort');
at('2026-12-04T09:00:00Z');
list_is('/opportunities?stale=100', $Lt, [], 'stale follows the test clock: nothing passed on 12-04');
at('2026-12-10T09:00:00Z');

# Sorts; a descending sort may break ties by id either way, but consistently.
my %sorts = (
    ''                     => [N(4, 1, 2, 5, 3, 6)],
    'sort=expected_close'  => [N(4, 1, 2, 5, 3, 6)],
    'sort=-expected_close' => [N(6, 3, 2, 5, 1, 4), N(6, 3, 5, 2, 1, 4)],
    'sort=value'           => [N(4, 6, 1, 2, 3, 5)],
    'sort=-value'          => [N(5, 2, 3, 1, 6, 4), N(5, 3, 2, 1, 6, 4)],
    'sort=updated'         => [N(1, 4, 3, 5, 6, 2)],
    'sort=-updated'        => [N(6, 2, 5, 3, 4, 1), N(2, 6, 5, 3, 4, 1)],
);
for my $s (sort keys %sorts) {
    my $path = "/opportunities?owner=me" . ($s ? "&$s" : '');
    my $r = call(GET => "$path&limit=200", $Lt);
    is($r->{status}, 200, "$s: 200") or diag($r->{content});
    my $got = ids($r);
    ok((grep { $J->encode($_) eq $J->encode($got) } @{ $sorts{$s} }), "order for '$s'")
        or diag('got ' . $J->encode($got) . ' want one of ' . $J->encode($sorts{$s}));
    for my $lim (1, 2, 4) {
        is_deeply(walk($path, $Lt, $lim), $got, "'$s' limit=$lim: pages cover every row once, in order");
    }
}
is_deeply(walk('/opportunities?status=open&sort=-value', $Lt, 1), ids(call(GET => '/opportunities?status=open&sort=-value', $Lt)),
          'filtered and sorted pages');
is_deeply(walk('/opportunities?owner=team&sort=updated', $ml->{token}, 3), N(1, 4, 3, 7, 8, 5, 6, 2),
          'manager team pages sorted by updated');
{
    my $r = call(GET => '/opportunities?owner=me&limit=2', $Lt);
    ok(defined $r->{json}{next_cursor}, 'next_cursor when more remain');
    ok(!defined call(GET => '/opportunities?owner=me&limit=6', $Lt)->{json}{next_cursor}, 'next_cursor null at the end');
}

for my $bad (['closing=2026-13', 'closing'], ['closing=2026-1', 'closing'], ['closing=next_month', 'closing'],
             ['closing=2026-12-01', 'closing'], ['sort=color', 'sort'], ['sort=-color', 'sort'], ['sort=value,title', 'sort'],
             ['stale=-1', 'stale'], ['stale=abc', 'stale'], ['stale=1.5', 'stale'], ['value_min=abc', 'value_min'],
             ['value_max=1.5', 'value_max'], ['status=won', 'status'], ['stage=bogus', 'stage'],
             ['stage=proposal,bogus', 'stage'], ['owner=abc', 'owner'], ['client_id=abc', 'client_id'],
             ['limit=0', 'limit'], ['limit=201', 'limit'], ['cursor=not-a-cursor', 'cursor'], ['color=red', 'color']) {
    bad_param("/opportunities?$bad->[0]", $Lt, $bad->[1]);
}

$t->stop;
done_testing;
