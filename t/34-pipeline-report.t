use strict;
use warnings;
use Test::More;
use Scalar::Util qw(looks_like_number);
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
sub bad_param {
    my ($path, $who, @params) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = call(GET => $path, $who);
    problem($r, 400, 'malformed', "GET $path");
    my $re = join '|', map { quotemeta } @params;
    my @named = grep { ($_->{pointer} // '') =~ /(?:^|\/)(?:$re)$/ || ($_->{detail} // '') =~ /\b(?:$re)\b/ }
                @{ ref $r->{json} eq 'HASH' && ref $r->{json}{errors} eq 'ARRAY' ? $r->{json}{errors} : [] };
    ok(@named, "GET $path: errors name " . join(' or ', @params)) or diag($r->{content});
}
sub mkclient {
    my ($who, $name, %f) = @_;
    my $r = call(POST => '/clients', $who, { name => $name, %f });
    is($r->{status}, 201, "client $name") or diag($r->{content});
    return $r->{json}{id};
}
my %deal;
# deal($name, $who, $created_at, {fields}, [$when, $who, {patch}]...)
sub deal {
    my ($name, $who, $created, $f, @steps) = @_;
    at($created);
    my $r = call(POST => '/opportunities', $who, { title => $name, %$f });
    is($r->{status}, 201, "create $name") or diag($r->{content});
    my $o = $r->{json} || {};
    for my $s (@steps) {
        at($s->[0]);
        my $p = call(PATCH => "/opportunities/$o->{id}", $s->[1], $s->[2]);
        is($p->{status}, 200, "$name: " . $J->encode($s->[2])) or diag($p->{content});
        $o = $p->{json} || $o;
    }
    $deal{$name} = $o;
    return $o;
}
sub won  { [$_[0], $_[1], { stage => 'won' }] }
sub lost { [$_[0], $_[1], { stage => 'lost', lost_reason => 'price' }] }

# Numbers compare to 6 decimals; currencies are compared as sets; stages in pipeline order,
# a stage without deals may be left out or shown with zeros.
sub norm {
    my $v = shift;
    return [map { norm($_) } @$v] if ref $v eq 'ARRAY';
    return { map { ($_ => norm($v->{$_})) } keys %$v } if ref $v eq 'HASH';
    return $v if !defined $v || JSON::PP::is_bool($v);
    return sprintf('%.6f', $v) if looks_like_number($v) && $v !~ /^\d{4}-\d\d/;
    return $v;
}
sub by_currency {
    my $list = shift;
    return 'NOT A LIST' unless ref $list eq 'ARRAY';
    my %h;
    for my $e (@$list) {
        my %c = %$e;
        my $cur = delete $c{currency} // 'NONE';
        $c{stages} = [grep { ($_->{count} // 0) != 0 || ($_->{value_minor} // 0) != 0 || ($_->{weighted_minor} // 0) != 0 }
                      @{ $c{stages} }] if ref $c{stages} eq 'ARRAY';
        $h{$cur} = exists $h{$cur} ? 'DUPLICATE' : \%c;
    }
    return \%h;
}
sub report_is {
    my ($path, $who, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = call(GET => $path, $who);
    is($r->{status}, 200, "$name: 200") or return diag($r->{content});
    my $g = $r->{json} || {};
    for my $k (qw(owner from to)) {
        next unless exists $want->{$k};
        is("" . ($g->{$k} // 'null'), "$want->{$k}", "$name: $k");
    }
    if (exists $want->{pipeline}) {
        is_deeply(norm(by_currency($g->{pipeline})), norm(by_currency($want->{pipeline})), "$name: pipeline")
            or diag($J->encode($g->{pipeline}));
        for my $e (@{ ref $g->{pipeline} eq 'ARRAY' ? $g->{pipeline} : [] }) {
            my @order = map { $_->{stage} } @{ $e->{stages} || [] };
            my %rank = (qualified => 1, needs_analysis => 2, proposal => 3, negotiation => 4);
            is_deeply(\@order, [sort { ($rank{$a} // 9) <=> ($rank{$b} // 9) } @order], "$name: $e->{currency} stages in pipeline order");
        }
    }
    for my $k (qw(win_rate cycle_days)) {
        next unless exists $want->{$k};
        is_deeply(norm($g->{$k}), norm($want->{$k}), "$name: $k") or diag($J->encode($g->{$k}));
    }
    if (exists $want->{average_deal}) {
        is_deeply(norm(by_currency($g->{average_deal})), norm(by_currency($want->{average_deal})), "$name: average_deal")
            or diag($J->encode($g->{average_deal}));
    }
    if (exists $want->{closing_this_month}) {
        my $c = $g->{closing_this_month} || {};
        my @keys = qw(id title client_id stage value_minor currency expected_close probability);
        is_deeply(norm([map { my $i = $_; +{ map { ($_ => $i->{$_}) } @keys } } @{ $c->{items} || [] }]),
                  norm([map { my $d = $deal{$_->[0]}; +{ id => $d->{id}, title => $d->{title}, client_id => $d->{client_id},
                                                        stage => $_->[1], value_minor => $d->{value_minor},
                                                        currency => $d->{currency}, expected_close => $d->{expected_close},
                                                        probability => $_->[2] } } @{ $want->{closing_this_month}{items} }]),
                  "$name: closing_this_month items, soonest first")
            or diag($J->encode($c->{items}));
        is_deeply(norm(by_currency($c->{totals})), norm(by_currency($want->{closing_this_month}{totals})),
                  "$name: closing_this_month totals") or diag($J->encode($c->{totals}));
    }
    return $g;
}

my $m  = $t->user('manager');
my $m2 = $t->user('manager');
my $A  = $t->user('ae', manager_id => $m->{id});
my $B  = $t->user('ae', manager_id => $m->{id});
my $C  = $t->user('ae', manager_id => $m2->{id});
my $in = $t->user('integration');

at('2026-10-01T00:00:00Z');
my $cAR = mkclient($A, 'Raport A RON SRL');
my $cAE = mkclient($A, 'Raport A EUR GmbH', currency => 'EUR');
my $cBR = mkclient($B, 'Raport B RON SRL');
my $cBE = mkclient($B, 'Raport B EUR GmbH', currency => 'EUR');
my $cM  = mkclient($m, 'Raport M SRL');
my $cC  = mkclient($C, 'Raport C SRL');

# --- A: open deals -----------------------------------------------------------------------
deal('A1', $A, '2026-11-10T09:00:00Z', { client_id => $cAR, value_minor => 12345, expected_close => '2026-12-20' });
deal('A2', $A, '2026-11-10T09:00:00Z', { client_id => $cAR, value_minor => 1005, expected_close => '2027-01-15', probability => 30 },
     ['2026-11-11T09:00:00Z', $A, { stage => 'proposal' }], ['2026-11-12T09:00:00Z', $A, { stage => 'qualified' }]);
is_deeply([@{ $deal{A2} }{qw(stage probability)}], ['qualified', 30], 'A2 keeps its override through stage moves');
deal('A7', $A, '2026-11-10T09:00:00Z', { client_id => $cAR, value_minor => 2, expected_close => '2026-12-01', stage => 'needs_analysis' });
deal('A3', $A, '2026-11-10T09:00:00Z', { client_id => $cAR, value_minor => 1001, expected_close => '2026-12-31', stage => 'proposal' });
deal('A4', $A, '2026-11-10T09:00:00Z', { client_id => $cAR, value_minor => 100000, expected_close => '2026-11-30', stage => 'negotiation',
                                          probability => 33 });
deal('A5', $A, '2026-11-10T09:00:00Z', { client_id => $cAE, value_minor => 2001, expected_close => '2026-12-21', probability => 25 });
deal('A6', $A, '2026-11-10T09:00:00Z', { client_id => $cAE, value_minor => 4999, expected_close => '2027-01-01', stage => 'proposal',
                                          probability => 1 });
deal('A8', $A, '2026-11-10T09:00:00Z', { client_id => $cAE, value_minor => 1, expected_close => '2026-12-15', stage => 'negotiation',
                                          probability => 50 });
deal('R1', $A, '2026-11-15T00:00:00Z', { client_id => $cAR, value_minor => 2000, expected_close => '2026-12-10' },
     won('2026-12-06T00:00:00Z', $A), ['2026-12-07T00:00:00Z', $m, { stage => 'qualified' }]);
is_deeply([@{ $deal{R1} }{qw(stage probability)}], ['qualified', 10], 'R1 reopened to qualified');
is($deal{A5}{currency}, 'EUR', 'A5 in EUR');

# --- A: closed deals ------------------------------------------------------------------------
deal('W1', $A, '2026-11-01T00:00:00Z', { client_id => $cAR, value_minor => 1000, expected_close => '2026-12-15' },
     won('2026-12-01T00:00:00Z', $A));
deal('W2', $A, '2026-11-20T06:00:00Z', { client_id => $cAR, value_minor => 2001, expected_close => '2026-12-15' },
     won('2026-12-05T18:00:00Z', $A));
deal('W3', $A, '2026-12-01T00:00:00Z', { client_id => $cAE, value_minor => 3, expected_close => '2026-12-15' },
     won('2026-12-03T06:00:00Z', $A));
deal('W4', $A, '2026-12-04T00:00:00Z', { client_id => $cAE, value_minor => 4, expected_close => '2026-12-15' },
     won('2026-12-31T23:59:59Z', $A));
deal('W5', $A, '2026-11-02T00:00:00Z', { client_id => $cAR, value_minor => 50000, expected_close => '2026-11-30' },
     won('2026-11-30T23:59:59Z', $A));
deal('W6', $A, '2026-12-02T00:00:00Z', { client_id => $cAR, value_minor => 70000, expected_close => '2026-12-31' },
     won('2027-01-01T00:00:00Z', $A));
deal('L1', $A, '2026-11-01T00:00:00Z', { client_id => $cAR, value_minor => 7000, expected_close => '2026-12-15' },
     lost('2026-12-04T10:00:00Z', $A));
deal('L2', $A, '2026-11-01T00:00:00Z', { client_id => $cAE, value_minor => 100, expected_close => '2026-11-15' },
     lost('2026-11-15T00:00:00Z', $A));
deal('L3', $A, '2026-11-01T00:00:00Z', { client_id => $cAR, value_minor => 5, expected_close => '2026-12-20' },
     lost('2027-01-01T00:00:00Z', $A));
deal('L4', $A, '2026-11-01T00:00:00Z', { client_id => $cAE, value_minor => 10, expected_close => '2026-12-09' },
     lost('2026-12-09T00:00:00Z', $A));
is($deal{W4}{won_at}, '2026-12-31T23:59:59Z', 'W4 won on the last second of December');

# --- B, the manager, and C (another team) ---------------------------------------------------------
deal('B1', $B, '2026-11-20T00:00:00Z', { client_id => $cBR, value_minor => 10000, expected_close => '2026-12-12', stage => 'proposal' });
deal('B2', $B, '2026-12-01T00:00:00Z', { client_id => $cBR, value_minor => 5000, expected_close => '2026-12-08' },
     won('2026-12-08T00:00:00Z', $B));
deal('B3', $B, '2026-12-01T00:00:00Z', { client_id => $cBE, value_minor => 1, expected_close => '2026-12-09' },
     lost('2026-12-09T12:00:00Z', $B));
deal('M1', $m, '2026-11-01T00:00:00Z', { client_id => $cM, value_minor => 999, expected_close => '2027-03-01' });
deal('C1', $C, '2026-11-01T00:00:00Z', { client_id => $cC, value_minor => 777777, expected_close => '2027-02-01', stage => 'negotiation' });
deal('C2', $C, '2026-12-01T00:00:00Z', { client_id => $cC, value_minor => 123, expected_close => '2026-12-02' },
     won('2026-12-02T00:00:00Z', $C));

at('2026-12-10T09:00:00Z');

# --- A, the current month ------------------------------------------------------------------------
my %A_pipeline = (pipeline => [
    { currency => 'RON', count => 6,
      value_minor => 116353,      # 12345 + 1005 + 2000 + 2 + 1001 + 100000
      weighted_minor => 35237,    # (123450 + 30150 + 20000 + 50 + 50050 + 3300000) / 100 = 35237 (stage sums would give 35238)
      stages => [
        { stage => 'qualified', count => 3, value_minor => 15350,   # A1 12345, A2 1005, R1 2000
          weighted_minor => 1736 },                                  # (12345*10 + 1005*30 + 2000*10) / 100 = 1736 (per deal: 1235+302+200 = 1737)
        { stage => 'needs_analysis', count => 1, value_minor => 2,
          weighted_minor => 1 },                                     # 2*25/100 = 0.5 -> 1 (half away from zero)
        { stage => 'proposal', count => 1, value_minor => 1001,
          weighted_minor => 501 },                                   # 1001*50/100 = 500.5 -> 501
        { stage => 'negotiation', count => 1, value_minor => 100000,
          weighted_minor => 33000 },                                 # 100000*33/100
      ] },
    { currency => 'EUR', count => 3,
      value_minor => 7001,        # 2001 + 4999 + 1
      weighted_minor => 551,      # (2001*25 + 4999*1 + 1*50) / 100 = 55074 / 100 = 550.74 -> 551
      stages => [
        { stage => 'qualified', count => 1, value_minor => 2001, weighted_minor => 500 },   # 50025/100 = 500.25 -> 500
        { stage => 'proposal', count => 1, value_minor => 4999, weighted_minor => 50 },     # 4999/100 = 49.99 -> 50
        { stage => 'negotiation', count => 1, value_minor => 1, weighted_minor => 1 },      # 50/100 = 0.5 -> 1
      ] },
]);
my %A_closing = (closing_this_month => {
    # open deals expected in December 2026, soonest first: [name, stage, probability]
    items  => [['A7', 'needs_analysis', 25], ['R1', 'qualified', 10], ['A8', 'negotiation', 50], ['A1', 'qualified', 10],
               ['A5', 'qualified', 25], ['A3', 'proposal', 50]],
    totals => [{ currency => 'RON', count => 4, value_minor => 15348 },   # A7 2 + R1 2000 + A1 12345 + A3 1001
               { currency => 'EUR', count => 2, value_minor => 2002 }],   # A8 1 + A5 2001
});
my %A_dec = (
    %A_pipeline, %A_closing,
    from => '2026-12-01', to => '2026-12-31',
    win_rate => { won => 4, lost => 2, closed => 6, rate => 0.6667 },   # W1-W4 won, L1 and L4 lost: 4/6 = 0.66666.. -> 0.6667
    average_deal => [
        { currency => 'RON', count => 2, value_minor => 3001, average_minor => 1501 },   # (1000 + 2001)/2 = 1500.5 -> 1501
        { currency => 'EUR', count => 2, value_minor => 7, average_minor => 4 },         # (3 + 4)/2 = 3.5 -> 4
    ],
    # W1 30 d (11-01 -> 12-01), W2 15.5 d (11-20 06:00 -> 12-05 18:00), W3 2.25 d (12-01 -> 12-03 06:00),
    # W4 27 d 23:59:59 = 27.9999884 d (12-04 -> 12-31 23:59:59)
    # average (30 + 15.5 + 2.25 + 27.9999884)/4 = 18.9374971 -> 18.94; median (15.5 + 27.9999884)/2 = 21.7499942 -> 21.75
    cycle_days => { count => 4, average => 18.94, median => 21.75 },
);
report_is('/reports/pipeline?owner=me&from=2026-12-01&to=2026-12-31', $A, { %A_dec, owner => 'me' }, 'A owner=me, December');
report_is('/reports/pipeline', $A, \%A_dec, 'A default: the caller, the current month');
{
    # The figures are rounded: the JSON text carries them with at most 4 (rate) and 2 (days) decimals.
    my $raw = call(GET => '/reports/pipeline?owner=me', $A)->{content};
    for my $c (['rate', '0.6667'], ['average', '18.94'], ['median', '21.75']) {
        ok($raw =~ /"$c->[0]":\Q$c->[1]\E[,}]/, "$c->[0] is written as $c->[1]")
            or diag($raw =~ /("$c->[0]":[^,}]*)/ ? "got $1" : "no $c->[0]");
    }
}
report_is('/reports/pipeline?owner=me', $A, \%A_dec, 'A owner=me, default period');
report_is("/reports/pipeline?owner=$A->{id}", $A, \%A_dec, 'A owner=<own id>');
report_is("/reports/pipeline?owner=$A->{id}", $m, \%A_dec, 'manager owner=<A>');
report_is("/reports/pipeline?owner=$A->{id}&from=2026-12-01&to=2026-12-31", $adm, \%A_dec, 'admin owner=<A>');

# --- other periods for A ------------------------------------------------------------------------
report_is('/reports/pipeline?from=2026-11-01&to=2026-11-30', $A, {
    %A_pipeline, %A_closing, from => '2026-11-01', to => '2026-11-30',
    win_rate => { won => 1, lost => 1, closed => 2, rate => 0.5 },                      # W5 (11-30 23:59:59), L2 (11-15)
    average_deal => [{ currency => 'RON', count => 1, value_minor => 50000, average_minor => 50000 }],
    cycle_days => { count => 1, average => 29, median => 29 },                          # 11-02 -> 11-30 23:59:59 = 28.9999884 -> 29.00
}, 'A November: pipeline and closing stay "now"');
report_is('/reports/pipeline?from=2027-01-01&to=2027-01-01', $A, {
    win_rate => { won => 1, lost => 1, closed => 2, rate => 0.5 },                      # W6 and L3 at 2027-01-01T00:00:00Z
    average_deal => [{ currency => 'RON', count => 1, value_minor => 70000, average_minor => 70000 }],
    cycle_days => { count => 1, average => 30, median => 30 },                          # 12-02 -> 01-01
}, 'A one-day period: from and to inclusive');
report_is('/reports/pipeline?from=2026-12-01&to=2026-12-01', $A, {
    win_rate => { won => 1, lost => 0, closed => 1, rate => 1 },                        # W1 at 2026-12-01T00:00:00Z
    average_deal => [{ currency => 'RON', count => 1, value_minor => 1000, average_minor => 1000 }],
    cycle_days => { count => 1, average => 30, median => 30 },
}, 'A first day of December');
report_is('/reports/pipeline?from=2026-12-31&to=2026-12-31', $A, {
    win_rate => { won => 1, lost => 0, closed => 1, rate => 1 },                        # W4 at 2026-12-31T23:59:59Z
    average_deal => [{ currency => 'EUR', count => 1, value_minor => 4, average_minor => 4 }],
    cycle_days => { count => 1, average => 28, median => 28 },                          # 27.9999884 -> 28.00
}, 'A last day of December');
report_is('/reports/pipeline?from=2026-12-02&to=2026-12-08', $A, {
    win_rate => { won => 2, lost => 1, closed => 3, rate => 0.6667 },                   # W2, W3 won; L1 lost: 2/3
    average_deal => [{ currency => 'RON', count => 1, value_minor => 2001, average_minor => 2001 },
                     { currency => 'EUR', count => 1, value_minor => 3, average_minor => 3 }],
    cycle_days => { count => 2, average => 8.88, median => 8.88 },                      # (15.5 + 2.25)/2 = 8.875 -> 8.88
}, 'A first week of December');
report_is('/reports/pipeline?from=2025-01-01&to=2025-01-31', $A, {
    win_rate => { won => 0, lost => 0, closed => 0, rate => undef },
    average_deal => [],
    cycle_days => { count => 0, average => undef, median => undef },
}, 'A period without closed deals');
at('2026-11-20T09:00:00Z');
report_is('/reports/pipeline', $A, {
    %A_pipeline, from => '2026-11-01', to => '2026-11-30',
    win_rate => { won => 1, lost => 1, closed => 2, rate => 0.5 },
    closing_this_month => { items => [['A4', 'negotiation', 33]],                       # the only open deal expected in November
                            totals => [{ currency => 'RON', count => 1, value_minor => 100000 }] },
}, 'A default period follows the test clock (November)');
at('2026-12-10T09:00:00Z');

# --- the manager's team -------------------------------------------------------------------------
my %team = (
    from => '2026-12-01', to => '2026-12-31',
    pipeline => [
        { currency => 'RON', count => 8,
          value_minor => 127352,       # 116353 (A) + 10000 (B1) + 999 (M1)
          weighted_minor => 40337,     # (3523700 + 10000*50 + 999*10) / 100 = 4033690 / 100 = 40336.9 -> 40337
          stages => [
            { stage => 'qualified', count => 4, value_minor => 16349,        # 15350 + 999
              weighted_minor => 1836 },                                       # (173600 + 9990)/100 = 1835.9 -> 1836
            { stage => 'needs_analysis', count => 1, value_minor => 2, weighted_minor => 1 },
            { stage => 'proposal', count => 2, value_minor => 11001,         # 1001 + 10000
              weighted_minor => 5501 },                                       # (50050 + 500000)/100 = 5500.5 -> 5501
            { stage => 'negotiation', count => 1, value_minor => 100000, weighted_minor => 33000 },
          ] },
        $A_pipeline{pipeline}[1],      # EUR: only A's (B3 is lost)
    ],
    win_rate => { won => 5, lost => 3, closed => 8, rate => 0.625 },          # A 4/2, B2 won, B3 lost: 5/8
    average_deal => [
        { currency => 'RON', count => 3, value_minor => 8001, average_minor => 2667 },   # (1000 + 2001 + 5000)/3 = 2667
        { currency => 'EUR', count => 2, value_minor => 7, average_minor => 4 },
    ],
    # A's four plus B2 7 d: average 82.7499884/5 = 16.5499977 -> 16.55; median of 2.25, 7, 15.5, 27.99, 30 = 15.5
    cycle_days => { count => 5, average => 16.55, median => 15.5 },
    closing_this_month => {
        items  => [['A7', 'needs_analysis', 25], ['R1', 'qualified', 10], ['B1', 'proposal', 50], ['A8', 'negotiation', 50],
                   ['A1', 'qualified', 10], ['A5', 'qualified', 25], ['A3', 'proposal', 50]],
        totals => [{ currency => 'RON', count => 5, value_minor => 25348 },   # 15348 + B1 10000
                   { currency => 'EUR', count => 2, value_minor => 2002 }],
    },
);
report_is('/reports/pipeline?owner=team', $m, { %team, owner => 'team' }, 'manager owner=team');
report_is('/reports/pipeline?owner=me', $m, {
    owner => 'me',
    pipeline => [{ currency => 'RON', count => 1, value_minor => 999, weighted_minor => 100,   # 999*10/100 = 99.9 -> 100
                   stages => [{ stage => 'qualified', count => 1, value_minor => 999, weighted_minor => 100 }] }],
    win_rate => { won => 0, lost => 0, closed => 0, rate => undef },
    average_deal => [],
    closing_this_month => { items => [], totals => [] },
}, 'manager owner=me: own deals only');
report_is("/reports/pipeline?owner=$B->{id}", $m, {
    pipeline => [{ currency => 'RON', count => 1, value_minor => 10000, weighted_minor => 5000,
                   stages => [{ stage => 'proposal', count => 1, value_minor => 10000, weighted_minor => 5000 }] }],
    win_rate => { won => 1, lost => 1, closed => 2, rate => 0.5 },
    average_deal => [{ currency => 'RON', count => 1, value_minor => 5000, average_minor => 5000 }],
    cycle_days => { count => 1, average => 7, median => 7 },
    closing_this_month => { items => [['B1', 'proposal', 50]], totals => [{ currency => 'RON', count => 1, value_minor => 10000 }] },
}, 'manager owner=<B>');

# --- everyone: admin and integration without owner ---------------------------------------------------
my %everyone = (
    %team,
    pipeline => [
        { currency => 'RON', count => 9,
          value_minor => 905129,      # 127352 + 777777
          weighted_minor => 623670,   # (4033690 + 777777*75)/100 = 62366965/100 = 623669.65 -> 623670
          stages => [
            @{ $team{pipeline}[0]{stages} }[0 .. 2],
            { stage => 'negotiation', count => 2, value_minor => 877777,   # 100000 + 777777
              weighted_minor => 616333 },                                   # (3300000 + 58333275)/100 = 616332.75 -> 616333
          ] },
        $A_pipeline{pipeline}[1],
    ],
    win_rate => { won => 6, lost => 3, closed => 9, rate => 0.6667 },      # + C2: 6/9
    average_deal => [
        { currency => 'RON', count => 4, value_minor => 8124, average_minor => 2031 },   # (8001 + 123)/4 = 2031
        { currency => 'EUR', count => 2, value_minor => 7, average_minor => 4 },
    ],
    # + C2 1 d: average 83.7499884/6 = 13.9583314 -> 13.96; median of 1, 2.25, 7, 15.5, 28, 30 = (7 + 15.5)/2 = 11.25
    cycle_days => { count => 6, average => 13.96, median => 11.25 },
);
report_is('/reports/pipeline', $adm, \%everyone, 'admin without owner sees everyone');
report_is('/reports/pipeline', $in, \%everyone, 'integration without owner sees everyone');
report_is("/reports/pipeline?owner=$C->{id}", $adm, {
    pipeline => [{ currency => 'RON', count => 1, value_minor => 777777, weighted_minor => 583333,   # 58333275/100 = 583332.75 -> 583333
                   stages => [{ stage => 'negotiation', count => 1, value_minor => 777777, weighted_minor => 583333 }] }],
    win_rate => { won => 1, lost => 0, closed => 1, rate => 1 },
    average_deal => [{ currency => 'RON', count => 1, value_minor => 123, average_minor => 123 }],
    cycle_days => { count => 1, average => 1, median => 1 },
    closing_this_month => { items => [], totals => [] },
}, 'admin owner=<C>');
report_is('/reports/pipeline?owner=me', $adm, {
    pipeline => [], win_rate => { won => 0, lost => 0, closed => 0, rate => undef }, average_deal => [],
    closing_this_month => { items => [], totals => [] },
}, 'admin owner=me owns nothing');

# --- parameters -------------------------------------------------------------------------------------
bad_param('/reports/pipeline?from=2026-02-30', $A, 'from');
bad_param('/reports/pipeline?from=2026-12-01&to=tomorrow', $A, 'to');
bad_param('/reports/pipeline?from=2026-12&to=2026-12-31', $A, 'from');
bad_param('/reports/pipeline?from=2026-12-01T00:00:00Z&to=2026-12-31', $A, 'from');
bad_param('/reports/pipeline?from=2026-12-31&to=2026-12-01', $A, 'from', 'to');
bad_param('/reports/pipeline?owner=abc', $A, 'owner');
bad_param('/reports/pipeline?owner=-3', $adm, 'owner');
bad_param('/reports/pipeline?currency=RON', $A, 'currency');
{
    my $r = call(GET => '/reports/pipeline?owner=team', $A);
    ok($r->{status} == 400 || $r->{status} == 403, 'AE owner=team: 400 or 403') or diag("$r->{status} $r->{content}");
    ok(!defined $r->{json}{pipeline}, 'no figures for an AE asking for a team');
}
my $r = call(GET => '/reports/pipeline?from=2026-12-05&to=2026-12-05', $A);
is($r->{status}, 200, 'from = to is a valid one-day period');

$t->stop;
done_testing;
