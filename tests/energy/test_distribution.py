from chargepoint.energy.distribution import Share, distribute


def test_equal_share_when_all_caps_are_above_the_average():
    assert distribute(300, [Share(1, 160), Share(2, 160)], 60) == {1: 150, 2: 150}


def test_low_cap_gets_its_cap_and_the_rest_is_shared():
    assert distribute(300, [Share(1, 160), Share(2, 80)], 60) == {1: 160, 2: 80}
    assert distribute(400, [Share(1, 320), Share(2, 80), Share(3, 320)], 60) == {1: 160, 2: 80, 3: 160}


def test_integer_division_of_the_remainder():
    assert distribute(200, [Share(1, 320), Share(2, 320), Share(3, 320)], 60) == {1: 66, 2: 66, 3: 66}


def test_solar_start_gets_exactly_min_current():
    assert distribute(300, [Share(1, 320, solar_start=True), Share(2, 320)], 60) == {1: 60, 2: 240}


def test_nobody_below_min_or_above_cap():
    assert distribute(50, [Share(1, 320), Share(2, 320)], 60) == {1: 60, 2: 60}
    assert distribute(500, [Share(1, 50)], 60) == {1: 50}
