# Commission: policies (every field a type needs, every field it refuses,
# bands that ascend from 0), assignments (one policy at a time), the ledger
# written with each issued invoice, payment and credit note, each row
# explained; marginal against slab on the same sales, the quota crossed
# inside one invoice, the paid basis with partial payments, a credit note
# after approval clawed back into the next open period, a policy changed
# mid-period by effective date, rounding once per row; closing, approving,
# the payroll CSV, exported and paid; who may see and do what. Slab kept per
# invoice through credit notes and a later period's clawback; a basis changed
# between issue and payment; a final invoice below zero; rows that follow the
# team they were written for.
# Every amount below is computed by hand in the comments.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;
use SalesDocs;

my $t   = SalesTest->new;
my $adm = $t->{admin};
my $d   = SalesDocs->new($t);
my $m   = $t->user('manager', name => 'Maria Manager');
my $m2  = $t->user('manager', name => 'Mihai Manager');
my $a   = $t->user('ae', manager_id => $m->{id}, name => 'Ana Marginal');
my $b   = $t->user('ae', manager_id => $m->{id}, name => 'Bogdan, "Slab"');
my $dd  = $t->user('ae', manager_id => $m->{id}, name => '=Dan Schimbare');
my $c   = $t->user('ae', manager_id => $m2->{id}, name => 'Cristi Accelerat');
my $f   = $t->user('ae', manager_id => $m2->{id}, name => 'Florin Rotunjit');
my $g   = $t->user('ae', manager_id => $m2->{id}, name => 'Gabi Încasat');
$d->{now} = '2026-01-05T09:00:00Z';

sub call { $d->call(@_) }
sub at { my ($now, $code) = @_; local $d->{now} = $now; $code->() }
sub policy { $d->ok_call(POST => '/commission/policies', $_[0], $_[1], 201) }
sub assign {
    my ($who, $pol, $user, %f) = @_;
    return $d->ok_call(POST => "/commission/policies/$pol->{id}/assignments", $who, { user_id => $user->{id}, %f }, 201);
}
my %client;
# An order of the AE's own client, confirmed, invoiced whole and issued today.
sub sale {
    my ($who, $spec, $issue) = @_;
    $client{ $who->{id} } //= $d->client($who);
    my $o = $d->ok_call(POST => '/orders', $who, { client_id => $client{ $who->{id} }{id}, lines => $d->lines($spec) }, 201);
    $o = $d->ok_call(POST => "/orders/$o->{id}/confirm", $who);
    return $d->invoice($who, $o, undef, $issue);
}
sub rows {
    my ($who, $query) = @_;
    my $q = join '&', grep { length } $query, 'limit=200';
    return must(call(GET => "/commission/accruals?$q", $who), 200, "accruals $query");
}
sub amounts { [map { $_->{amount_minor} } @{ $_[0]{items} }] }
sub of_invoice { my ($list, $inv) = @_; [grep { ($_->{invoice_id} // 0) == $inv->{id} } @{ $list->{items} }] }
sub sum_of { my ($list, $inv) = @_; my $s = 0; $s += $_->{amount_minor} for @{ of_invoice($list, $inv) }; $s }
sub total { my $l = shift; my ($e) = grep { $_->{currency} eq 'RON' } @{ $l->{totals} }; $e ? $e->{amount_minor} : 0 }

my @bands = ({ from_minor => 0, rate_bp => 500 }, { from_minor => 100000, rate_bp => 1000 },
             { from_minor => 200000, rate_bp => 1500 });

# === policies: what each type needs and refuses ====================================================
{
    my $p = policy($m, { name => 'Fix 5 %', type => 'fixed', rate_bp => 500 });
    is($p->{manager_id}, $m->{id}, "a manager's policy is their team's");
    is_deeply([@$p{qw(basis base period currency effective_from)}], ['issued', 'net', 'month', 'RON', '2026-01-05'],
              'defaults: issued basis, net base, a month, RON, from today');
    ok(!defined $p->{mode} && !defined $p->{bands} && !defined $p->{quota_minor}, 'a fixed policy has no mode, bands or quota');

    my $tp = policy($m, { name => 'Trepte', type => 'tiered', mode => 'marginal', bands => \@bands });
    is_deeply($tp->{bands}, \@bands, 'bands shown as given');
    is($tp->{mode}, 'marginal', 'mode stated');

    my $bad = sub { my ($body, $ptrs, $name) = @_; invalid(call(POST => '/commission/policies', $m, $body), 422, 'validation', $ptrs, $name) };
    $bad->({ name => 'x', type => 'tiered', bands => \@bands }, ['#/mode'], 'tiered without marginal or slab');
    $bad->({ name => 'x', type => 'tiered', mode => 'slab' }, ['#/bands'], 'tiered without bands');
    $bad->({ name => 'x', type => 'tiered', mode => 'slab',
             bands => [{ from_minor => 0, rate_bp => 500 }, { from_minor => 300000, rate_bp => 900 }, { from_minor => 200000, rate_bp => 1000 }] },
           ['#/bands/2/from_minor'], 'bands not ascending');
    $bad->({ name => 'x', type => 'tiered', mode => 'slab', bands => [{ from_minor => 100, rate_bp => 500 }] },
           ['#/bands/0/from_minor'], 'the first band starts above 0');
    $bad->({ name => 'x', type => 'tiered', mode => 'slab', bands => [{ from_minor => 0, rate_bp => 20000, tier => 1 }] },
           ['#/bands/0/rate_bp', '#/bands/0/tier'], 'a band with a rate over 100 % and an unknown key');
    $bad->({ name => 'x', type => 'tiered', mode => 'marginal', bands => \@bands, rate_bp => 500 }, ['#/rate_bp'],
           'tiered with a rate of its own');
    $bad->({ name => 'x', type => 'fixed', rate_bp => 500, mode => 'slab' }, ['#/mode'], 'fixed with a mode');
    $bad->({ name => 'x', type => 'fixed', rate_bp => 500, multiplier_bp => 15000 }, ['#/multiplier_bp'], 'fixed with a multiplier');
    $bad->({ name => 'x', type => 'fixed' }, ['#/rate_bp'], 'fixed without a rate');
    $bad->({ name => 'x', type => 'accelerator', rate_bp => 400, multiplier_bp => 15000 }, ['#/quota_minor'],
           'a multiplier without a quota');
    $bad->({ name => 'x', type => 'accelerator', rate_bp => 333, quota_minor => 100000, multiplier_bp => 15000 },
           ['#/multiplier_bp'], 'an accelerated rate that is not a whole basis point (333 x 1.5)');
    $bad->({ name => 'x', type => 'fixed', rate_bp => 500, effective_from => '2026-02-01', effective_to => '2026-01-31' },
           ['#/effective_to'], 'an end before the start');
    $bad->({ type => 'bonus', basis => 'booked', colour => 1 }, ['#/basis', '#/colour', '#/name', '#/type'], 'every bad field at once');
    $bad->({ name => 'x', type => 'fixed', rate_bp => 500, manager_id => $m2->{id} }, ['#/manager_id'],
           "a manager does not write another team's policy");

    problem(call(POST => '/commission/policies', $a, { name => 'Mine', type => 'fixed', rate_bp => 9000 }), 403, 'forbidden',
            'an AE cannot write policies');
    problem(call(PATCH => "/commission/policies/$p->{id}", $a, { rate_bp => 9000 }), 403, 'forbidden', 'nor change one');
    problem(call(GET => "/commission/policies/$p->{id}", $a), 404, 'not-found', 'an AE sees only policies assigned to them');
    problem(call(GET => "/commission/policies/$p->{id}", $m2), 404, 'not-found', "another manager does not see it");
    my $co = policy($adm, { name => 'Companie', type => 'fixed', rate_bp => 100 });
    ok(!defined $co->{manager_id}, "an admin's policy without a manager is the company's");
    problem(call(PATCH => "/commission/policies/$co->{id}", $m, { name => 'y' }), 404, 'not-found',
            'a manager does not see a company policy not assigned to them');

    my $r = call(PATCH => "/commission/policies/$p->{id}", $m, { rate_bp => 600, name => 'Fix 6 %' });
    is($r->{status}, 200, 'terms change while nothing accrued');
    is($r->{json}{rate_bp}, 600, 'the new rate');
    invalid(call(PATCH => "/commission/policies/$p->{id}", $m, { mode => 'slab' }), 422, 'validation', ['#/mode'],
            'a fixed policy is not given a mode by PATCH');
    invalid(call(PATCH => "/commission/policies/$p->{id}", $m, { manager_id => $m->{id} }), 422, 'validation',
            ['#/manager_id'], 'a policy stays with its team');

    # Assignments: one policy at a time, of the policy's team, from today on.
    invalid(call(POST => "/commission/policies/$p->{id}/assignments", $m, { user_id => $c->{id} }), 422, 'validation',
            ['#/user_id'], "a member of another team");
    invalid(call(POST => "/commission/policies/$p->{id}/assignments", $m, { user_id => $a->{id}, effective_from => '2026-01-04' }),
            422, 'validation', ['#/effective_from'], 'an assignment does not reach back');
    my $x = assign($m, $p, $a, effective_from => '2026-01-10', effective_to => '2026-01-20');
    my $y = call(POST => "/commission/policies/$tp->{id}/assignments", $m, { user_id => $a->{id}, effective_from => '2026-01-15' });
    invalid($y, 409, 'conflict', ['#/effective_from'], 'overlapping assignments of one person');
    my $z = assign($m, $tp, $a, effective_from => '2026-01-21', effective_to => '2026-01-31');
    is(must(call(GET => "/commission/policies/$p->{id}", $a), 200, 'assigned')->{id}, $p->{id}, 'an AE sees a policy assigned to them');
    my $list = must(call(GET => "/commission/assignments?user_id=$a->{id}", $m), 200, 'assignments');
    is_deeply([map { $_->{id} } @{ $list->{items} }], [$x->{id}, $z->{id}], 'the manager lists them');
    is(scalar @{ must(call(GET => "/commission/assignments?user_id=$a->{id}", $b), 200, 'other AE')->{items} }, 0,
       "another AE sees none of them");
    problem(call(DELETE => "/commission/assignments/$x->{id}", $a), 403, 'forbidden', 'an AE does not remove one');
    is(call(DELETE => "/commission/assignments/$x->{id}", $m)->{status}, 204, 'one not yet in effect is removed');
    is(call(DELETE => "/commission/assignments/$z->{id}", $m)->{status}, 204, 'and the other');
    is($t->sql("select count(*) from audit_log where object_type = 'commission_assignment' and action = 'delete'"), 2,
       'each removal audited');
}

# === an accelerator: the quota crossed inside one invoice; rounding once per row ===================
# C, February: 4 % up to a quota of 1,000.00 RON, 4 % x 1.5 = 6 % above it.
my ($acc, $rnd);
at('2026-02-01T08:00:00Z', sub {
    $acc = policy($m2, { name => 'Accelerator', type => 'accelerator', rate_bp => 400, quota_minor => 100000, multiplier_bp => 15000 });
    assign($m2, $acc, $c);
    # F: 3.33 % fixed, from a fixed policy of the same team.
    $rnd = policy($m2, { name => 'Fix 3.33 %', type => 'fixed', rate_bp => 333 });
    assign($m2, $rnd, $f);
});
at('2026-02-10T09:00:00Z', sub {
    my $i1 = sale($c, [[std => 6]]);                  # net 600.00
    my $i2 = sale($c, [[std => 7]]);                  # net 700.00: 400.00 below the quota, 300.00 above
    my $i3 = sale($c, [[odd => 1]]);                  # net 123.45, all above
    my $l = rows($c, 'user=me&period=2026-02');
    # 600.00 x 4 % = 24.00; 400.00 x 4 % = 16.00 and 300.00 x 6 % = 18.00; 123.45 x 6 % = 7.407 -> 7.41
    is_deeply(amounts($l), [2400, 1600, 1800, 741], 'below, split at the quota, above');
    is_deeply([map { $_->{rate_bp} } @{ $l->{items} }], [400, 400, 600, 600], 'the rate of each part');
    is_deeply([map { $_->{base_minor} } @{ $l->{items} }], [60000, 40000, 30000, 12345], 'each part of the base');
    is(scalar @{ of_invoice($l, $i2) }, 2, 'the invoice that crosses the quota has two rows');
    my ($below, $above) = @{ of_invoice($l, $i2) };
    is($below->{explanation}{quota}, 'up_to', 'explained: up to the quota');
    is($above->{explanation}{quota}, 'above', 'explained: above it');
    is_deeply([@{ $above->{explanation} }{qw(cumulative_before_minor cumulative_after_minor)}], [100000, 130000],
              "the period's base it covers");
    is($above->{explanation}{multiplier_bp}, 15000, 'with the multiplier');
    like($above->{explanation}{text}, qr/above the quota of 1000\.00 RON: 4\.00% x 1\.5 = 6\.00% on 300\.00 RON/, 'in words');
    is($above->{explanation}{event}{id}, $i2->{id}, 'the invoice it came from');
    is($above->{source_type}, 'invoice', 'source: the invoice');
    is(total($l), 2400 + 1600 + 1800 + 741, "the period's total: 65.41");

    # Rounding once per row: 123.45 x 3.33 % = 4.110885 -> 4.11; 246.90 x 3.33 % = 8.22177 -> 8.22.
    sale($f, [[odd => 1]]);
    sale($f, [[odd => 2]]);
    is_deeply(amounts(rows($f, 'user=me')), [411, 822], 'each row rounded once, half away from zero');
});
# A policy's terms are frozen once it accrued; it may still be ended.
at('2026-02-11T09:00:00Z', sub {
    problem(call(PATCH => "/commission/policies/$rnd->{id}", $m2, { rate_bp => 350 }), 409, 'conflict',
            'the terms of a policy that accrued are kept');
    invalid(call(PATCH => "/commission/policies/$rnd->{id}", $m2, { effective_to => '2026-02-09' }), 409, 'conflict',
            ['#/effective_to'], 'an end before an event that accrued under it');
    is(call(PATCH => "/commission/policies/$rnd->{id}", $m2, { name => 'Fix 3.33 % (2026)' })->{status}, 200, 'the name may change');
});

# === marginal against slab on the same sales ========================================================
# Bands: 5 % to 1,000.00 RON, 10 % to 2,000.00, 15 % above. A (marginal) and B (slab) each sell
# 800.00, 500.00 and 900.00 net in March: the period's base goes 800.00 -> 1,300.00 -> 2,200.00.
my ($marg, $slab, %inv);
at('2026-03-01T08:00:00Z', sub {
    $marg = policy($m, { name => 'Marginal', type => 'tiered', mode => 'marginal', bands => \@bands });
    $slab = policy($m, { name => 'Slab', type => 'tiered', mode => 'slab', bands => \@bands });
    assign($m, $marg, $a);
    assign($m, $slab, $b);
});
at('2026-03-12T09:00:00Z', sub {
    for my $who ([a => $a], [b => $b]) {
        $inv{ $who->[0] } = [map { sale($who->[1], [[std => $_]]) } 8, 5, 9];
    }
    my $la = rows($a, 'user=me&period=2026-03');
    # A: 800.00 x 5 % = 40.00 | 200.00 x 5 % = 10.00 + 300.00 x 10 % = 30.00 | 700.00 x 10 % = 70.00 + 200.00 x 15 % = 30.00
    is_deeply(amounts($la), [4000, 1000, 3000, 7000, 3000], 'marginal: each band on the part inside it');
    is_deeply([map { $_->{band} } @{ $la->{items} }], [1, 1, 2, 2, 3], 'the band of each part');
    is(total($la), 18000, 'marginal: 180.00 = 1,000.00 x 5 % + 1,000.00 x 10 % + 200.00 x 15 %');
    my $part = of_invoice($la, $inv{a}[1])->[1];
    is_deeply($part->{explanation}{band}, { number => 2, from_minor => 100000, to_minor => 200000, rate_bp => 1000 },
              'the band explained');
    like($part->{explanation}{text}, qr/marginal: band 2 of 3 \(from 1000\.00 to 2000\.00 RON\) at 10\.00% on the 300\.00 RON/,
         'in words');

    my $lb = rows($b, 'user=me&period=2026-03');
    # B: 800.00 x 5 % = 40.00 | 500.00 x 10 % = 50.00, true-up of the first 800.00 x 10 % - 40.00 = 40.00
    #  | 900.00 x 15 % = 135.00, true-ups of the first 800.00 x 15 % - 80.00 = 40.00 and of the second
    #    500.00 x 15 % - 50.00 = 25.00
    is_deeply(amounts($lb), [4000, 5000, 4000, 13500, 4000, 2500], 'slab: the reached band on the whole, with true-ups');
    is_deeply([map { $_->{kind} } @{ $lb->{items} }], [qw(accrual accrual true_up accrual true_up true_up)], 'the true-ups named');
    is(total($lb), 33000, 'slab: 330.00 = 2,200.00 x 15 %');
    is_deeply([map { $_->{invoice_id} } grep { $_->{kind} eq 'true_up' } @{ $lb->{items} }],
              [$inv{b}[0]{id}, $inv{b}[0]{id}, $inv{b}[1]{id}], 'each true-up filed under the invoice whose base it re-rates');
    my $tu = $lb->{items}[4];
    is_deeply($tu->{explanation}{true_up}, { invoice_id => $inv{b}[0]{id}, base_minor => 80000, at_new_rate_minor => 12000,
                                             accrued_minor => 8000, band_before => 2 }, 'the true-up explained');
    is($tu->{source_id}, $inv{b}[2]{id}, 'caused by the third invoice');
    like($tu->{explanation}{text}, qr/slab true-up: band 3 of 3 \(from 2000\.00 RON up\) now sets 15\.00% for the 800\.00 RON of invoice/,
         'in words');
    is_deeply([map { sum_of($lb, $_) } @{ $inv{b} }], [12000, 7500, 13500], "each invoice's rows: its base at the period's 15 %");
    isnt(total($la), total($lb), 'the same sales, two different amounts: the mode is stated, never implied');

    # Who sees what.
    my $mine = rows($a, '');
    ok(!grep({ $_->{user_id} != $a->{id} } @{ $mine->{items} }), 'an AE sees only their own rows');
    problem(call(GET => "/commission/accruals?user=$b->{id}", $a), 404, 'not-found', "an AE asking for a colleague's");
    my $team = rows($m, 'user=team&period=2026-03');
    is(total($team), 18000 + 33000, "the manager sees the team's, with the period's total");
    is(scalar @{ rows($m2, 'period=2026-03')->{items} }, 0, "another manager sees none of them");
    problem(call(GET => '/commission/accruals?period=2026-13', $a), 400, 'malformed', 'a period that is not one');
    is(must(call(GET => '/me', $a), 200, 'me')->{commission_accrued_this_month_minor}, 18000, 'GET /me: accrued this month');
    my $rep = must(call(GET => '/reports/pipeline?owner=team', $m), 200, 'report');
    is($rep->{commission_accrued_this_month_minor}, 51000, "the pipeline report: the team's this month");
    is_deeply($rep->{commission_accrued_this_month}, [{ currency => 'RON', amount_minor => 51000 }], 'per currency');
    is(must(call(GET => '/reports/pipeline', $b), 200, 'report')->{commission_accrued_this_month_minor}, 33000,
       "an AE's report: their own");
});

# === closing, a late invoice, approving, the payroll ==============================================
my ($march, $payout);
at('2026-03-31T18:00:00Z', sub {
    problem(call(POST => '/commission/periods/close', $m, { period => '2026-03' }), 409, 'conflict', 'a month is closed once it ended');
});
at('2026-04-01T08:00:00Z', sub {
    invalid(call(POST => '/commission/periods/close', $m, { period => 'March' }), 422, 'validation', ['#/period'], 'a bad period');
    invalid(call(POST => '/commission/periods/close', $adm, { period => '2026-03' }), 422, 'validation', ['#/manager_id'],
            'an admin names the team');
    problem(call(POST => '/commission/periods/close', $a, { period => '2026-03' }), 403, 'forbidden', 'an AE does not close');
    problem(call(POST => '/commission/periods/close', $m2, { period => '2026-03', manager_id => $m->{id} }), 403, 'forbidden',
            "another manager does not close this team's period");
    my $r = call(POST => '/commission/periods/close', $m, { period => '2026-03' });
    is($r->{status}, 201, 'the manager closes March');
    $march = $r->{json};
    is_deeply([@$march{qw(status manager_id period)}], ['closed', $m->{id}, '2026-03'], 'closed, for the team');
    is_deeply($march->{totals}, [{ currency => 'RON', amount_minor => 51000, people => 2, rows => 11 }], 'what it holds');
    is($t->sql("select count(*) from outbox where type = 'commission.period_closed'"), 1, 'commission.period_closed');
    problem(call(POST => '/commission/periods/close', $m, { period => '2026-03' }), 409, 'conflict', 'closed once');

    # An invoice dated in March, issued after the close: it accrues into April, and says so.
    # April starts at 0: 100.00 x 5 % = 5.00.
    my $late = sale($a, [[std => 1]], { issue_date => '2026-03-31' });
    my ($row) = @{ of_invoice(rows($a, 'user=me'), $late) };
    is_deeply([@$row{qw(period earned_period event_date amount_minor)}], ['2026-04', '2026-03', '2026-03-31', 500],
              'a late event counts in the next open period');
    like($row->{note}, qr/in 2026-03, which is closed for the team: counted in 2026-04/, 'visibly');
    is($row->{explanation}{moved_from}, '2026-03', 'and in its explanation');
    is(total(rows($a, 'period=2026-03')), 18000, 'March is unchanged');

    problem(call(POST => '/commission/periods/approve', $a, { period => '2026-03' }), 403, 'forbidden', 'an AE does not approve');
    problem(call(POST => '/commission/periods/approve', $m2, { period => '2026-03', manager_id => $m->{id} }), 403, 'forbidden',
            'another manager cannot approve this team');
    problem(call(POST => '/commission/periods/approve', $m2, { period => '2026-03' }), 409, 'conflict',
            "and their own team's March is not closed");
    problem(call(GET => "/commission/periods/$march->{id}", $m2), 404, 'not-found', "nor do they see this team's period");
    is(must(call(GET => "/commission/periods/$march->{id}", $a), 200, 'own team')->{status}, 'closed',
       "an AE sees their team's period");
    # ... with the totals of their own rows only: A's five March rows, 180.00, not the team's 510.00.
    is_deeply(must(call(GET => "/commission/periods/$march->{id}", $a), 200, 'own team')->{totals},
              [{ currency => 'RON', amount_minor => 18000, people => 1, rows => 5 }], "an AE's totals are their own");
    is_deeply([map { $_->{totals} } @{ must(call(GET => '/commission/periods', $b), 200, 'periods')->{items} }],
              [[{ currency => 'RON', amount_minor => 33000, people => 1, rows => 6 }]], 'in the list too');
    is_deeply(must(call(GET => "/commission/periods/$march->{id}", $m), 200, 'manager')->{totals},
              [{ currency => 'RON', amount_minor => 51000, people => 2, rows => 11 }], "the manager's: the team's");

    $r = call(POST => '/commission/periods/approve', $m, { period => '2026-03' });
    is($r->{status}, 201, 'the manager approves: a payout');
    $payout = $r->{json};
    is($payout->{status}, 'approved', 'approved');
    is_deeply([map { [@$_{qw(user_id name amount_minor currency)}] } @{ $payout->{lines} }],
              [[$a->{id}, 'Ana Marginal', 18000, 'RON'], [$b->{id}, 'Bogdan, "Slab"', 33000, 'RON']], 'one line per person');
    is_deeply($payout->{totals}, [{ currency => 'RON', amount_minor => 51000, people => 2 }], 'its total');
    is(must(call(GET => "/commission/periods/$march->{id}", $m), 200, 'period')->{payout_id}, $payout->{id}, 'the period names it');
    is($t->sql("select count(*) from outbox where type = 'commission.payout_approved' and subject_id = $payout->{id}"), 1,
       'commission.payout_approved');
    problem(call(POST => '/commission/periods/approve', $m, { period => '2026-03' }), 409, 'conflict', 'approved once');

    # The payroll export.
    my $csv = call(GET => "/commission/payouts/$payout->{id}/export.csv", $m);
    is($csv->{status}, 200, 'export.csv');
    like($csv->{headers}{'content-type'}, qr{^text/csv}, 'text/csv');
    is($csv->{content}, "id,name,period,amount,currency\r\n$a->{id},Ana Marginal,2026-03,180.00,RON\r\n"
                      . "$b->{id},\"Bogdan, \"\"Slab\"\"\",2026-03,330.00,RON\r\n", 'one row per person, RFC 4180 quoting');
    is(must(call(GET => "/commission/payouts/$payout->{id}", $m), 200, 'payout')->{status}, 'approved', 'exporting changes nothing');
    problem(call(GET => "/commission/payouts/$payout->{id}/export.csv", $a), 403, 'forbidden', 'an AE does not read the payroll');
    problem(call(GET => "/commission/payouts/$payout->{id}", $m2), 404, 'not-found', "nor another team's manager");
    problem(call(POST => "/commission/payouts/$payout->{id}/paid", $m), 409, 'conflict', 'paid only once exported');
    $r = call(POST => "/commission/payouts/$payout->{id}/exported", $m);
    is($r->{json}{status}, 'exported', 'marked exported');
    problem(call(POST => "/commission/payouts/$payout->{id}/exported", $m), 409, 'conflict', 'exported once');
    $r = call(POST => "/commission/payouts/$payout->{id}/paid", $m);
    is($r->{json}{status}, 'paid', 'marked paid');
    is_deeply([map { $t->sql("select count(*) from outbox where type = '$_'") } qw(commission.payout_exported commission.payout_paid)],
              [1, 1], 'each step an event');
    is($t->sql("select group_concat(action, ',') from (select action from audit_log where object_type in"
               . " ('commission_period', 'commission_payout') order by id)"), 'close,approve,create,exported,paid',
       'each step audited');
    my $types = must(call(GET => '/webhooks/event-types', $adm), 200, 'event types');
    my %known = map { (ref $_ ? $_->{type} // $_->{name} : $_) => 1 } @{ ref $types eq 'ARRAY' ? $types : $types->{items} || $types->{types} || [] };
    ok($known{$_}, "$_ can be subscribed to") for qw(commission.period_closed commission.payout_approved
                                                     commission.payout_exported commission.payout_paid);
});

# === a credit note after approval: the clawback lands in the next open period =======================
at('2026-04-10T09:00:00Z', sub {
    # A's third March invoice credited whole: its rows (70.00 and 30.00) are reversed in April.
    $d->ok_call(POST => "/invoices/$inv{a}[2]{id}/credit-notes", $a, { reason => 'returned' }, 201);
    my $apr = rows($a, 'user=me&period=2026-04');
    my @claw = grep { $_->{kind} eq 'clawback' } @{ $apr->{items} };
    is_deeply([map { $_->{amount_minor} } @claw], [-7000, -3000], 'each row of the invoice reversed');
    is_deeply([map { $_->{reverses_id} } @claw], [map { $_->{id} } @{ of_invoice(rows($a, 'period=2026-03'), $inv{a}[2]) }],
              'each names the row it reverses');
    is_deeply([map { $_->{counted_minor} } @claw], [0, 0], "the approved March's base is not April's");
    like($claw[0]{explanation}{text}, qr/clawback: credit note CN-2026-\d+ gives back 100\.00% of invoice/, 'explained');
    is(total($apr), 500 - 10000, 'April: 5.00 - 100.00');
    is(total(rows($a, 'period=2026-03')), 18000, 'the approved March keeps its rows');
});

# === a policy changed mid-period by effective date ==================================================
# D: 5 % fixed from May 1st; from May 16th an accelerator of 10 % to 1,000.00 RON, x2 above.
my ($p1, $p2, $asg);
at('2026-05-01T08:00:00Z', sub {
    $p1 = policy($m, { name => 'Mai, fix', type => 'fixed', rate_bp => 500 });
    $p2 = policy($m, { name => 'Mai, accelerator', type => 'accelerator', rate_bp => 1000, quota_minor => 100000,
                       multiplier_bp => 20000, effective_from => '2026-05-16' });
    $asg = assign($m, $p1, $dd);
});
at('2026-05-02T08:00:00Z', sub {
    # April for the team: A ends at -95.00, so nothing is paid and the balance moves to May.
    must(call(POST => '/commission/periods/close', $m, { period => '2026-04' }), 201, 'close April');
    my $pay = must(call(POST => '/commission/periods/approve', $m, { period => '2026-04' }), 201, 'approve April');
    is_deeply($pay->{lines}, [], 'nobody is paid a negative amount');
    my @carry = grep { $_->{kind} eq 'carry' } @{ rows($a, 'user=me')->{items} };
    is_deeply([map { [@$_{qw(period amount_minor)}] } @carry], [['2026-04', 9500], ['2026-05', -9500]],
              'the balance is carried into May');
    is(total(rows($a, 'period=2026-04')), 0, 'April ends at 0');
});
at('2026-05-10T09:00:00Z', sub {
    sale($dd, [[std => 8]]);                                      # 800.00 x 5 % = 40.00
    invalid(call(POST => "/commission/policies/$p2->{id}/assignments", $m, { user_id => $dd->{id}, effective_from => '2026-05-16' }),
            409, 'conflict', ['#/effective_from'], 'the new policy overlaps the open-ended one');
    must(call(PATCH => "/commission/assignments/$asg->{id}", $m, { effective_to => '2026-05-15' }), 200, 'end the first');
    invalid(call(PATCH => "/commission/assignments/$asg->{id}", $m, { effective_to => '2026-05-09' }), 409, 'conflict',
            ['#/effective_to'], 'not before an event that accrued under it');
    assign($m, $p2, $dd, effective_from => '2026-05-16');
});
at('2026-05-20T09:00:00Z', sub {
    sale($dd, [[std => 4]]);
    my $l = rows($dd, 'user=me&period=2026-05');
    # The quota counts May's 800.00 under the first policy: 200.00 x 10 % = 20.00 below it, 200.00 x 20 % = 40.00 above.
    is_deeply([map { [$_->{policy_id}, $_->{amount_minor}] } @{ $l->{items} }],
              [[$p1->{id}, 4000], [$p2->{id}, 2000], [$p2->{id}, 4000]], 'each sale under the policy in force on its date');
    is(total($l), 10000, "May: 100.00");
    is(must(call(GET => '/me', $dd), 200, 'me')->{commission_accrued_this_month_minor}, 10000, 'accrued this month');
    is(must(call(GET => '/me', $a), 200, 'me')->{commission_accrued_this_month_minor}, -9500, "A's May starts below zero");
    is(must(call(GET => '/reports/pipeline?owner=team', $m), 200, 'report')->{commission_accrued_this_month_minor}, 500,
       "the team's May: 100.00 - 95.00");
});

# === the paid basis: partial payments pro rata; a credit note takes back only what is refunded ===========
my $paid;
at('2026-06-01T08:00:00Z', sub {
    $paid = policy($m2, { name => 'Incasat', type => 'fixed', rate_bp => 1000, basis => 'paid' });
    assign($m2, $paid, $g);
});
at('2026-06-05T09:00:00Z', sub {
    my $inv = sale($g, [[std => 5]]);                    # net 500.00, gross 605.00
    is(scalar @{ rows($g, 'user=me')->{items} }, 0, 'nothing at issue on the paid basis');
    $d->ok_call(POST => "/invoices/$inv->{id}/payments", $g, { amount_minor => 20000 }, 201);
    $d->ok_call(POST => "/invoices/$inv->{id}/payments", $g, { amount_minor => 30000 }, 201);
    $d->ok_call(POST => "/invoices/$inv->{id}/payments", $g, { amount_minor => 10500 }, 201);
    my $l = rows($g, 'user=me');
    # bases: 500.00 x 200/605 = 165.289 -> 165.29; 500.00 x 500/605 = 413.223 -> 413.22, less 165.29 = 247.93;
    # 500.00 - 413.22 = 86.78. At 10 %: 16.529 -> 16.53, 24.793 -> 24.79, 8.678 -> 8.68.
    is_deeply([map { $_->{base_minor} } @{ $l->{items} }], [16529, 24793, 8678], "each payment's share of the net");
    is_deeply(amounts($l), [1653, 2479, 868], '10 % of each');
    is(total($l), 5000, 'the payments add up to the net exactly: 50.00');
    is_deeply([map { $_->{source_type} } @{ $l->{items} }], [('payment') x 3], 'each row from its payment');
    like($l->{items}[0]{explanation}{text}, qr/net share of payment \d+ \(200\.00 RON on 2026-06-05\)/, 'explained');

    # Half paid, then half credited: what was credited was never paid, so nothing comes back;
    # then the rest credited: the 121.00 paid is refunded, so its 10.00 comes back.
    my $i2 = sale($g, [[std => 2]]);                     # net 200.00, gross 242.00
    $d->ok_call(POST => "/invoices/$i2->{id}/payments", $g, { amount_minor => 12100 }, 201);   # base 100.00, 10.00
    my $full = must(call(GET => "/invoices/$i2->{id}", $g), 200, 'invoice');
    my $line = $full->{lines}[0]{id};
    $d->ok_call(POST => "/invoices/$i2->{id}/credit-notes", $g, { reason => 'one less', lines => [{ invoice_line_id => $line, quantity => 1 }] }, 201);
    is_deeply(amounts({ items => of_invoice(rows($g, 'user=me'), $i2) }), [1000], 'crediting the unpaid part takes nothing back');
    $d->ok_call(POST => "/invoices/$i2->{id}/credit-notes", $g, { reason => 'none at all' }, 201);
    is_deeply(amounts({ items => of_invoice(rows($g, 'user=me'), $i2) }), [1000, -1000], 'refunding what was paid takes it back');
    is(total(rows($g, 'period=2026-06')), 5000, 'June: 50.00');
});

# === a quarterly policy ==========================================================================
at('2026-07-01T08:00:00Z', sub {
    my $q = policy($m2, { name => 'Trimestrial', type => 'fixed', rate_bp => 200, period => 'quarter', base => 'gross' });
    must(call(PATCH => "/commission/assignments/" . must(call(GET => "/commission/assignments?user_id=$f->{id}", $m2), 200, 'a')->{items}[0]{id},
              $m2, { effective_to => '2026-06-30' }), 200, 'end the monthly one');
    assign($m2, $q, $f);
});
at('2026-07-15T09:00:00Z', sub {
    sale($f, [[std => 1]]);                              # gross 121.00 x 2 % = 2.42
    my ($row) = @{ rows($f, 'period=2026-Q3')->{items} };
    is_deeply([@$row{qw(period month base_minor amount_minor)}], ['2026-Q3', '2026-07', 12100, 242], 'a quarter, on the gross');
    problem(call(POST => '/commission/periods/close', $m2, { period => '2026-Q3' }), 409, 'conflict', 'a quarter closes once it ended');

    # An advance accrues itself; the final invoice, net of it, accrues the rest. The order: gross
    # 1,210.00; a 30 % proforma paid: the advance's gross 363.00 x 2 % = 7.26; the final invoice
    # 1,210.00 - 363.00 = 847.00 x 2 % = 16.94; together 1,210.00 x 2 % = 24.20.
    my $o = $d->ok_call(POST => '/orders', $f, { client_id => $client{ $f->{id} }{id}, lines => $d->lines([[std => 10]]) }, 201);
    $o = $d->ok_call(POST => "/orders/$o->{id}/confirm", $f);
    my $pf = $d->ok_call(POST => '/proformas', $f, { order_id => $o->{id}, basis => 'percent', percent_bp => 3000 }, 201);
    $d->ok_call(POST => "/proformas/$pf->{id}/issue", $f);
    $d->ok_call(POST => "/proformas/$pf->{id}/payments", $f, {}, 201);
    my $final = $d->invoice($f, $o);
    is($final->{gross_minor}, 84700, 'fixture: the final invoice deducts the advance');
    my $l = rows($f, 'period=2026-Q3');
    is_deeply([map { $_->{base_minor} } @{ $l->{items} }[1, 2]], [36300, 84700], 'the advance, then the final invoice');
    is_deeply([map { $_->{amount_minor} } @{ $l->{items} }[1, 2]], [726, 1694], 'each accrues its own part');
    like($l->{items}[1]{explanation}{text}, qr/gross of advance invoice ADV-2026-000001/, 'the advance named');
});

# === an admin closes and approves for a team; nothing is written by a refused step =============================
at('2026-08-03T09:00:00Z', sub {
    my $before = $t->sql('select count(*) from commission_accruals') . ' ' . $t->sql('select count(*) from audit_log');
    problem(call(POST => '/commission/periods/approve', $adm, { period => '2026-02', manager_id => $m2->{id} }), 409, 'conflict',
            'not closed yet');
    is($t->sql('select count(*) from commission_accruals') . ' ' . $t->sql('select count(*) from audit_log'), $before,
       'a refused step writes nothing');
    must(call(POST => '/commission/periods/close', $adm, { period => '2026-02', manager_id => $m2->{id} }), 201, 'admin closes');
    my $pay = must(call(POST => '/commission/periods/approve', $adm, { period => '2026-02', manager_id => $m2->{id} }), 201, 'and approves');
    is_deeply([map { [@$_{qw(user_id amount_minor)}] } @{ $pay->{lines} }], [[$c->{id}, 6541], [$f->{id}, 1233]],
              "February for M2's team: 65.41 and 4.11 + 8.22");
    my $csv = call(GET => "/commission/payouts/$pay->{id}/export.csv", $m2)->{content};
    like($csv, qr/^$c->{id},Cristi Accelerat,2026-02,65\.41,RON\r$/m, 'the payroll row');
    my $all = must(call(GET => '/commission/payouts?period=2026-02', $m2), 200, 'payouts');
    is_deeply([map { $_->{id} } @{ $all->{items} }], [$pay->{id}], "the team's payouts");
    is(scalar @{ must(call(GET => '/commission/payouts', $m), 200, 'payouts')->{items} }, 2, "the other team's two");
    is(scalar @{ must(call(GET => '/commission/periods?status=approved', $m), 200, 'periods')->{items} }, 2, 'their periods');
});

# May for M's team: D is paid; A, still below zero, is carried again; a name that would start a
# formula in a spreadsheet is exported as text.
at('2026-08-03T10:00:00Z', sub {
    must(call(POST => '/commission/periods/close', $m, { period => '2026-05' }), 201, 'close May');
    my $pay = must(call(POST => '/commission/periods/approve', $m, { period => '2026-05' }), 201, 'approve May');
    is_deeply([map { [@$_{qw(user_id amount_minor)}] } @{ $pay->{lines} }], [[$dd->{id}, 10000]], 'May: D is paid 100.00');
    my $csv = call(GET => "/commission/payouts/$pay->{id}/export.csv", $m)->{content};
    is($csv, "id,name,period,amount,currency\r\n$dd->{id},'=Dan Schimbare,2026-05,100.00,RON\r\n", 'a formula is not exported');
    my @carry = grep { $_->{kind} eq 'carry' } @{ rows($a, 'user=me')->{items} };
    is_deeply([map { [@$_{qw(period amount_minor)}] } @carry[2, 3]], [['2026-05', 9500], ['2026-06', -9500]],
              "A's balance moves on to June");
});

# === slab, per invoice: a credit note takes back exactly its invoice's share ========================
# Bands 5 % to 1,000.00 RON, 10 % to 2,000.00, 15 % above. Under a slab policy the period always
# holds the reached band's rate x its counted base, kept per invoice: when the band changes, every
# invoice of the period gets a true-up of its own.
my $m3 = $t->user('manager', name => 'Sorin Manager');
my $h  = $t->user('ae', manager_id => $m3->{id}, name => 'Horia Storno');
my $ii = $t->user('ae', manager_id => $m3->{id}, name => 'Ioana Partial');
my $e  = $t->user('ae', manager_id => $m3->{id}, name => 'Elena Aprilie');
my ($slab3, %s3);
at('2026-09-01T08:00:00Z', sub {
    $slab3 = policy($m3, { name => 'Slab 3', type => 'tiered', mode => 'slab', bands => \@bands });
    assign($m3, $slab3, $_) for $h, $ii, $e;
});
at('2026-09-10T09:00:00Z', sub {
    # H: 800.00 -> 40.00; 500.00 -> 50.00 and a true-up of the first, 800.00 x 10 % - 40.00 = 40.00,
    # filed under the first invoice. The first credited whole: its 40.00 and 40.00 come back and the
    # period's base falls to 500.00, band 1: the second is trued up to 500.00 x 5 % - 50.00 = -25.00.
    # The period: 500.00 x 5 % = 25.00.
    $s3{h} = [map { sale($h, [[std => $_]]) } 8, 5];
    $d->ok_call(POST => "/invoices/$s3{h}[0]{id}/credit-notes", $h, { reason => 'returned' }, 201);
    my $l = rows($h, 'user=me&period=2026-09');
    is_deeply([map { [$_->{kind}, $_->{invoice_id}, $_->{amount_minor}] } @{ $l->{items} }],
              [['accrual', $s3{h}[0]{id}, 4000], ['accrual', $s3{h}[1]{id}, 5000], ['true_up', $s3{h}[0]{id}, 4000],
               ['clawback', $s3{h}[0]{id}, -4000], ['clawback', $s3{h}[0]{id}, -4000], ['true_up', $s3{h}[1]{id}, -2500]],
              'slab: crediting the first invoice takes back its true-up, and the period falls back a band');
    is(total($l), 2500, 'slab: 500.00 x 5 % = 25.00 after the credit');
    is_deeply([map { sum_of($l, $_) } @{ $s3{h} }], [0, 2500], "each invoice's rows: 0 and 500.00 x 5 %");
    my $down = $l->{items}[5];
    is_deeply([@$down{qw(source_type base_minor rate_bp band)}], ['credit_note', 50000, 500, 1], 'the true-up down, from the credit note');
    is($down->{explanation}{true_up}{band_before}, 2, 'from band 2');

    # I: 800.00 and 500.00 (band 2: 80.00 and 50.00), then 100.00 of the second credited: its row gives
    # back 500.00 x 10 % x 100/500 = 10.00; the period's base 1,200.00 stays in band 2: 120.00.
    $s3{i} = [map { sale($ii, [[std => $_]]) } 8, 5];
    my $line = must(call(GET => "/invoices/$s3{i}[1]{id}", $ii), 200, 'invoice')->{lines}[0]{id};
    $d->ok_call(POST => "/invoices/$s3{i}[1]{id}/credit-notes", $ii,
                { reason => 'one less', lines => [{ invoice_line_id => $line, quantity => 1 }] }, 201);
    $l = rows($ii, 'user=me&period=2026-09');
    is_deeply(amounts($l), [4000, 5000, 4000, -1000], "slab: a part of the second credited takes back only its own share");
    is(total($l), 12000, 'slab: 1,200.00 x 10 % = 120.00');
    is_deeply([map { sum_of($l, $_) } @{ $s3{i} }], [8000, 4000], "each invoice's rows: 800.00 and 400.00 x 10 %");

    # E: 800.00 in September, 40.00.
    $s3{e} = sale($e, [[std => 8]]);
});
at('2026-10-01T08:00:00Z', sub {
    must(call(POST => '/commission/periods/close', $m3, { period => '2026-09' }), 201, 'close September');
    must(call(POST => '/commission/periods/approve', $m3, { period => '2026-09' }), 201, 'approve September');
});
at('2026-10-05T09:00:00Z', sub {
    # E's September invoice credited in October: -40.00 into October, counting nothing there. Then
    # 500.00 (band 1: 25.00) and 600.00 (1,100.00, band 2: 60.00 and a true-up of the 500.00 to 10 %,
    # 25.00). October: 1,100.00 x 10 % = 110.00, less September's 40.00 = 70.00; the clawback is no
    # part of October's slab.
    $d->ok_call(POST => "/invoices/$s3{e}{id}/credit-notes", $e, { reason => 'returned' }, 201);
    my @oct = map { sale($e, [[std => $_]]) } 5, 6;
    my $l = rows($e, 'user=me&period=2026-10');
    is_deeply([map { [$_->{kind}, $_->{amount_minor}] } @{ $l->{items} }],
              [['clawback', -4000], ['accrual', 2500], ['accrual', 6000], ['true_up', 2500]],
              "slab: a clawback of another period's row is not trued up");
    is(total($l), 7000, 'October: 110.00 - 40.00 = 70.00');
    is($l->{items}[3]{invoice_id}, $oct[0]{id}, 'the true-up is the 500.00 invoice\'s');
    is(total(rows($e, 'user=me&period=2026-09')), 4000, 'the approved September keeps its 40.00');
});

# === the basis changed between issue and payment ========================================================
# J: 5 % fixed on the paid basis to October 15th, 10 % fixed on the issued basis from the 16th. An
# invoice issued on the 10th accrued nothing then (paid basis), so it accrues at its payments, at the
# rate in force on each.
my $m4 = $t->user('manager', name => 'Radu Manager');
my $j  = $t->user('ae', manager_id => $m4->{id}, name => 'Jean Bazei');
at('2026-10-06T08:00:00Z', sub {
    my $pp = policy($m4, { name => 'Incasat 5 %', type => 'fixed', rate_bp => 500, basis => 'paid' });
    my $pi = policy($m4, { name => 'Emis 10 %', type => 'fixed', rate_bp => 1000 });
    assign($m4, $pp, $j, effective_to => '2026-10-15');
    assign($m4, $pi, $j, effective_from => '2026-10-16');
});
my $jinv;
at('2026-10-10T09:00:00Z', sub {
    $jinv = [map { sale($j, [[std => $_]]) } 5, 2];     # net 500.00, gross 605.00; net 200.00, gross 242.00
    is(scalar @{ rows($j, 'user=me')->{items} }, 0, 'nothing at issue on the paid basis');
});
at('2026-10-20T09:00:00Z', sub {
    # Paid whole: 500.00 x 10 % = 50.00. Half of the second paid: 200.00 x 121/242 = 100.00 x 10 % = 10.00.
    $d->ok_call(POST => "/invoices/$jinv->[0]{id}/payments", $j, { amount_minor => 60500 }, 201);
    $d->ok_call(POST => "/invoices/$jinv->[1]{id}/payments", $j, { amount_minor => 12100 }, 201);
    my $l = rows($j, 'user=me');
    is_deeply([map { [@$_{qw(source_type base_minor rate_bp amount_minor)}] } @{ $l->{items} }],
              [['payment', 50000, 1000, 5000], ['payment', 10000, 1000, 1000]],
              'issued under a paid-basis policy: it accrues at its payments, under the policy of the payment');
    like($l->{items}[0]{explanation}{text}, qr/issued 2026-10-10 under a paid-basis policy, so it accrues at its payments/, 'and says why');
    # One of the two units of the second credited: 121.00 of what was never paid, so, as a payment's row,
    # nothing comes back; then the rest: the 121.00 paid is refunded, and its 10.00 comes back.
    my $line = must(call(GET => "/invoices/$jinv->[1]{id}", $j), 200, 'invoice')->{lines}[0]{id};
    $d->ok_call(POST => "/invoices/$jinv->[1]{id}/credit-notes", $j,
                { reason => 'one less', lines => [{ invoice_line_id => $line, quantity => 1 }] }, 201);
    is_deeply(amounts({ items => of_invoice(rows($j, 'user=me'), $jinv->[1]) }), [1000], 'crediting the unpaid part takes nothing back');
    $d->ok_call(POST => "/invoices/$jinv->[1]{id}/credit-notes", $j, { reason => 'none' }, 201);
    is_deeply(amounts({ items => of_invoice(rows($j, 'user=me'), $jinv->[1]) }), [1000, -1000], 'refunding what was paid takes it back');
    is(total(rows($j, 'period=2026-10')), 5000, 'October: 50.00');
});

# === a final invoice below zero: its advances exceed its net ==========================================
# K, marginal: 5 % to 435.00 RON, 10 % above. The order: 1 x 100.00 at 21 % and 10 x 33.33 at 11 %, net
# 433.30; an advance of 24 % (net 24.00 + 79.99 = 103.99), then the 10 x 33.33 invoiced (333.30), then the
# final invoice: 100.00 less the advance's 103.99, net -3.99 (gross 3.17). It accrues as signed rows
# that take the period's base back down, band by band from the top.
my $k = $t->user('ae', manager_id => $m4->{id}, name => 'Karina Avans');
at('2026-11-02T09:00:00Z', sub {
    my $pk = policy($m4, { name => 'Marginal mic', type => 'tiered', mode => 'marginal',
                           bands => [{ from_minor => 0, rate_bp => 500 }, { from_minor => 43500, rate_bp => 1000 }] });
    assign($m4, $pk, $k);
    $client{ $k->{id} } = $d->client($k);
    my $o = $d->ok_call(POST => '/orders', $k, { client_id => $client{ $k->{id} }{id}, lines => $d->lines([[std => 1], [red => 10]]) }, 201);
    $o = $d->ok_call(POST => "/orders/$o->{id}/confirm", $k);
    my $pf = $d->ok_call(POST => '/proformas', $k, { order_id => $o->{id}, basis => 'percent', percent_bp => 2400 }, 201);
    $d->ok_call(POST => "/proformas/$pf->{id}/issue", $k);
    $d->ok_call(POST => "/proformas/$pf->{id}/payments", $k, {}, 201);
    my ($red) = grep { $_->{quantity} == 10 } @{ $o->{lines} };
    $d->invoice($k, $o, [[$red->{id}, 10]]);
    my $fin = $d->invoice($k, $o);
    is_deeply([@$fin{qw(net_minor gross_minor)}], [-399, 317], 'fixture: a final invoice with a negative net, a positive gross');
    my $l = rows($k, 'user=me&period=2026-11');
    # advance 103.99 x 5 % = 5.1995 -> 5.20; 331.01 x 5 % = 16.5505 -> 16.55 and 2.29 x 10 % = 0.229 -> 0.23;
    # the final: -2.29 x 10 % = -0.23 (437.29 down to 435.00) and -1.70 x 5 % = -0.085 -> -0.09 (to 433.30).
    is_deeply(amounts($l), [520, 1655, 23, -23, -9], 'the negative final invoice accrues signed rows');
    is_deeply([map { [@$_{qw(band base_minor)}] } @{ of_invoice($l, $fin) }], [[2, -229], [1, -170]], 'band by band, from the top');
    is_deeply([@{ of_invoice($l, $fin)->[0]{explanation} }{qw(cumulative_before_minor cumulative_after_minor)}], [43729, 43500],
              "the period's base going down");
    is(total($l), 2166, 'the order: 21.66, not the 21.98 its advance and partial invoice accrued');
    is($l->{totals}[0]{base_minor}, 43330, "the period's base: the order's net");
    # Its storno gives the -3.99 back: both rows reversed, 0.23 and 0.09.
    $d->ok_call(POST => "/invoices/$fin->{id}/credit-notes", $k, { reason => 'storno' }, 201);
    $l = rows($k, 'user=me&period=2026-11');
    is_deeply([map { $_->{amount_minor} } grep { $_->{kind} eq 'clawback' } @{ $l->{items} }], [23, 9], 'the storno reverses them');
    is(total($l), 2198, 'back to the advance and the partial invoice: 21.98');
});

# === rows follow the team they were written for ====================================================
# H moves from M3's team to M4's after M3 approved September. M3 keeps seeing H's September rows (25.00);
# M4 sees none of them, only what H accrues from now on: a November sale of 100.00 x 5 % = 5.00.
at('2026-11-03T09:00:00Z', sub {
    must(call(PATCH => "/users/$h->{id}", $adm, { manager_id => $m4->{id} }), 200, 'H moves to M4');
    my $old = rows($m3, "user=$h->{id}&period=2026-09");
    is_deeply([scalar @{ $old->{items} }, total($old)], [6, 2500], 'the old manager still sees the rows of the period they approved');
    is(scalar @{ rows($m4, "user=$h->{id}")->{items} }, 0, "the new manager does not see the old team's history");
    sale($h, [[std => 1]]);
    my $new = rows($m4, "user=$h->{id}");
    is_deeply([map { [@$_{qw(team_manager_id amount_minor)}] } @{ $new->{items} }], [[$m4->{id}, 500]], 'only what is written for their team');
    is(scalar @{ rows($m3, "user=$h->{id}&period=2026-11")->{items} }, 0, 'which the old manager does not see');
    is(total(rows($m3, 'user=team&period=2026-09')), 2500 + 12000 + 4000, "the old team's September, whole: H, I and E");
    is(scalar @{ rows($h, 'user=me')->{items} }, 7, 'the AE sees all their own rows');
});

$t->stop;
done_testing;
